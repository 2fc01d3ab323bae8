package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestETagMatch(t *testing.T) {
	cases := []struct {
		header string
		ok     bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`*`, true},
		{`"abcd"`, false},
		{`abc`, false},
		{``, false},
	}
	for _, c := range cases {
		if got := etagMatch(c.header, `"abc"`); got != c.ok {
			t.Errorf("etagMatch(%q) = %v, want %v", c.header, got, c.ok)
		}
	}
}

func TestParseWait(t *testing.T) {
	cases := map[string]time.Duration{"5s": 5 * time.Second, "500ms": 500 * time.Millisecond, "2": 2 * time.Second, "0": 0, "1.5": 1500 * time.Millisecond}
	for in, want := range cases {
		if got, err := parseWait(in); err != nil || got != want {
			t.Errorf("parseWait(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWait("soon"); err == nil {
		t.Error("parseWait(soon) succeeded")
	}
}

// Only imagepipe's own errors keep their text; others are replaced.
func TestErrorDetailHidesForeignText(t *testing.T) {
	cases := []struct {
		err     error
		code    int
		message string
	}{
		{apperr.InvalidField("preset", "unknown preset %q", "x"), http.StatusBadRequest, `preset: unknown preset "x"`},
		{apperr.Internal(errTest("open /var/lib/secret: permission denied")), http.StatusInternalServerError, "internal error"},
		{status.Error(codes.Unavailable, "dial tcp 10.0.0.7:9090: connection refused"), http.StatusServiceUnavailable, "service temporarily unavailable, retry"},
		{status.Error(codes.Internal, "panic in handler at /src/x.go:12"), http.StatusInternalServerError, "internal error"},
		{status.Error(codes.Unknown, "boom"), http.StatusInternalServerError, "internal error"},
		{&apperr.Error{Code: codes.ResourceExhausted, Reason: apperr.ReasonTooLarge, Msg: "too big"}, http.StatusRequestEntityTooLarge, "too big"},
		{&apperr.Error{Code: codes.InvalidArgument, Reason: apperr.ReasonUnsupportedFormat, Field: "chunk", Msg: "nope"}, http.StatusUnsupportedMediaType, "nope"},
	}
	for _, c := range cases {
		// What crosses the wire is the status, as a client sees it.
		d := errorDetail(status.Convert(c.err).Err())
		if d.Code != c.code || d.Message != c.message {
			t.Errorf("%v: got %d %q, want %d %q", c.err, d.Code, d.Message, c.code, c.message)
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
