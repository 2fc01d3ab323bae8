package queue_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/queue"
)

var errFakeOpen = errors.New("fake opener called")

func init() {
	queue.Register("fake-queue", func(_ context.Context, u *url.URL) (queue.Queue, error) {
		return nil, errFakeOpen
	})
}

func TestOpenDispatchesToDriver(t *testing.T) {
	_, err := queue.Open(t.Context(), "FAKE-QUEUE://bucket/prefix")
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
		{"nosuch://x", queue.ErrUnknownScheme, []string{`"nosuch"`, "fake-queue"}},
		{"/no/scheme", nil, []string{"no scheme", "fake-queue"}},
		{"%zz://bad", nil, []string{"parse"}},
	}
	for _, tc := range tests {
		_, err := queue.Open(t.Context(), tc.url)
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
	noop := func(context.Context, *url.URL) (queue.Queue, error) { return nil, nil }
	tests := []struct {
		name   string
		scheme string
		o      queue.Opener
	}{
		{"duplicate", "Fake-Queue", noop},
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
			queue.Register(tc.scheme, tc.o)
		})
	}
	if got := queue.Schemes(); len(got) != 1 || got[0] != "fake-queue" {
		t.Errorf("Schemes() = %v, want [fake-queue]", got)
	}
}
