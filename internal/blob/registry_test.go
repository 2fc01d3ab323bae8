package blob_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/blob"
)

var errFakeOpen = errors.New("fake opener called")

func init() {
	blob.Register("fake-blob", func(_ context.Context, u *url.URL) (blob.Store, error) {
		return nil, errFakeOpen
	})
}

func TestOpenDispatchesToDriver(t *testing.T) {
	_, err := blob.Open(t.Context(), "FAKE-BLOB://bucket/prefix")
	if !errors.Is(err, errFakeOpen) {
		t.Fatalf("Open error = %v, want the driver's error", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		url      string
		wantIs   error
		contains []string
	}{
		{"nosuch://x", blob.ErrUnknownScheme, []string{`"nosuch"`, "fake-blob"}},
		{"/no/scheme", nil, []string{"no scheme", "fake-blob"}},
		{"%zz://bad", nil, []string{"parse"}},
	}
	for _, tc := range tests {
		_, err := blob.Open(t.Context(), tc.url)
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
	noop := func(context.Context, *url.URL) (blob.Store, error) { return nil, nil }
	tests := []struct {
		name   string
		scheme string
		o      blob.Opener
	}{
		{"duplicate", "Fake-Blob", noop},
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
			blob.Register(tc.scheme, tc.o)
		})
	}
	if got := blob.Schemes(); len(got) != 1 || got[0] != "fake-blob" {
		t.Errorf("Schemes() = %v, want [fake-blob]", got)
	}
}
