package registry_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/registry"
)

var (
	errFakeOpen = errors.New("fake opener called")
	errUnknown  = errors.New("thing: unknown scheme")
)

type thing struct{ url string }

func newRegistry() *registry.Registry[*thing] {
	r := registry.New[*thing]("thing", errUnknown)
	r.Register("fake", func(_ context.Context, u *url.URL) (*thing, error) {
		if u.Host == "broken" {
			return nil, errFakeOpen
		}
		return &thing{url: u.String()}, nil
	})
	return r
}

func TestOpenDispatchesToDriver(t *testing.T) {
	r := newRegistry()
	got, err := r.Open(t.Context(), "FAKE://bucket/prefix")
	if err != nil || got == nil || got.url != "fake://bucket/prefix" {
		t.Fatalf("Open = %v, %v; want the driver's store", got, err)
	}
	if _, err := r.Open(t.Context(), "fake://broken"); !errors.Is(err, errFakeOpen) || !strings.HasPrefix(err.Error(), "thing: open fake store") {
		t.Fatalf("Open error = %v, want the driver's error, wrapped", err)
	}
}

func TestOpenErrors(t *testing.T) {
	r := newRegistry()
	tests := []struct {
		url      string
		wantIs   error
		contains []string
	}{
		{"nosuch://x", errUnknown, []string{`"nosuch"`, "fake"}},
		{"/no/scheme", nil, []string{"no scheme", "fake"}},
		{"%zz://bad", nil, []string{"parse"}},
	}
	for _, tc := range tests {
		_, err := r.Open(t.Context(), tc.url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
			t.Errorf("Open(%q) error = %v, want %v", tc.url, err, tc.wantIs)
		}
		for _, s := range tc.contains {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Open(%q) error %q does not mention %q", tc.url, err, s)
			}
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	r := newRegistry()
	noop := func(context.Context, *url.URL) (*thing, error) { return nil, nil }
	tests := []struct {
		name   string
		scheme string
		o      registry.Opener[*thing]
	}{
		{"duplicate", "Fake", noop},
		{"empty scheme", "", noop},
		{"nil opener", "other", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tc.scheme)
				}
			}()
			r.Register(tc.scheme, tc.o)
		})
	}
	if got := r.Schemes(); len(got) != 1 || got[0] != "fake" {
		t.Errorf("Schemes() = %v, want [fake]", got)
	}
}
