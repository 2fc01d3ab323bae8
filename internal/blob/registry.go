package blob

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Opener opens a Store for a parsed URL whose scheme the driver registered.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a driver available under a URL scheme (case-insensitive).
// It is meant to be called from a driver's init function and panics if the
// scheme is empty, o is nil or the scheme is already registered.
func Register(scheme string, o Opener) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || o == nil {
		panic("blob: Register with empty scheme or nil opener")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("blob: Register called twice for scheme " + scheme)
	}
	registry[scheme] = o
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

func knownSchemes() string {
	if s := Schemes(); len(s) > 0 {
		return strings.Join(s, ", ")
	}
	return "none"
}

// Open parses rawURL and opens a Store with the driver registered for its
// scheme. An unregistered scheme yields an error wrapping ErrUnknownScheme
// that names the scheme and the registered ones.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob: parse store URL: %w", err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("blob: store URL %q has no scheme (registered: %s)", u.Redacted(), knownSchemes())
	}
	registryMu.RLock()
	o := registry[u.Scheme]
	registryMu.RUnlock()
	if o == nil {
		return nil, fmt.Errorf("%w %q (registered: %s; is the driver imported?)", ErrUnknownScheme, u.Scheme, knownSchemes())
	}
	s, err := o(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s store: %w", u.Scheme, err)
	}
	return s, nil
}
