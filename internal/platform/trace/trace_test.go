package trace_test

import (
	"context"
	"testing"

	"github.com/imagepipe/imagepipe/internal/platform/trace"
)

func TestValid(t *testing.T) {
	cases := map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00": true,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": false, // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01": false, // zero span id
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": false, // unknown version
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": false, // upper case
		"garbage": false,
		"":        false,
	}
	for tp, want := range cases {
		if got := trace.Valid(tp); got != want {
			t.Errorf("Valid(%q) = %v, want %v", tp, got, want)
		}
	}
	if tp := trace.New(); !trace.Valid(tp) || trace.ID(tp) == "" || tp == trace.New() {
		t.Errorf("New() = %q: invalid, or not random", tp)
	}
}

func TestContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := trace.From(trace.With(context.Background(), tp)); got != tp {
		t.Errorf("From(With(tp)) = %q", got)
	}
	if got := trace.From(trace.With(context.Background(), "bogus")); !trace.Valid(got) || got == "bogus" {
		t.Errorf("From(With(bogus)) = %q, want a fresh valid one", got)
	}
}
