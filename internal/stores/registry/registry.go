// Package registry maps URL schemes to store drivers, like database/sql:
// each driver registers itself from init, so a blank import selects it, and
// Open picks the driver by the URL's scheme. blob, queue and records each
// keep one Registry of their own store type.
package registry

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Opener opens a store for a parsed URL whose scheme the driver registered.
type Opener[T any] func(ctx context.Context, u *url.URL) (T, error)

// Registry is a set of drivers of one kind of store.
type Registry[T any] struct {
	kind       string // "blob", "queue", "records": the prefix of errors
	errUnknown error  // wrapped when no driver has the scheme
	mu         sync.RWMutex
	openers    map[string]Opener[T]
}

// New returns an empty registry; errUnknown is wrapped by Open's error for
// an unregistered scheme.
func New[T any](kind string, errUnknown error) *Registry[T] {
	return &Registry[T]{kind: kind, errUnknown: errUnknown, openers: map[string]Opener[T]{}}
}

// Register makes a driver available under a URL scheme (case-insensitive).
// It is meant to be called from a driver's init function and panics if the
// scheme is empty, o is nil or the scheme is already registered.
func (r *Registry[T]) Register(scheme string, o Opener[T]) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || o == nil {
		panic(r.kind + ": Register with empty scheme or nil opener")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.openers[scheme]; dup {
		panic(r.kind + ": Register called twice for scheme " + scheme)
	}
	r.openers[scheme] = o
}

// Schemes returns the registered URL schemes, sorted.
func (r *Registry[T]) Schemes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := make([]string, 0, len(r.openers))
	for k := range r.openers {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

func (r *Registry[T]) known() string {
	if s := r.Schemes(); len(s) > 0 {
		return strings.Join(s, ", ")
	}
	return "none"
}

// Open parses rawURL and opens a store with the driver registered for its
// scheme. An unregistered scheme yields an error wrapping the registry's
// unknown-scheme error that names the scheme and the registered ones.
func (r *Registry[T]) Open(ctx context.Context, rawURL string) (T, error) {
	var zero T
	u, err := url.Parse(rawURL)
	if err != nil {
		return zero, fmt.Errorf("%s: parse store URL: %w", r.kind, err)
	}
	if u.Scheme == "" {
		return zero, fmt.Errorf("%s: store URL %q has no scheme (registered: %s)", r.kind, u.Redacted(), r.known())
	}
	r.mu.RLock()
	o := r.openers[strings.ToLower(u.Scheme)]
	r.mu.RUnlock()
	if o == nil {
		return zero, fmt.Errorf("%w %q (registered: %s; is the driver imported?)", r.errUnknown, u.Scheme, r.known())
	}
	s, err := o(ctx, u)
	if err != nil {
		return zero, fmt.Errorf("%s: open %s store: %w", r.kind, u.Scheme, err)
	}
	return s, nil
}
