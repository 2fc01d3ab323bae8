package apperr_test

import (
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGRPCStatusDetails(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       *apperr.Error
		wantField string
		wantRetry time.Duration
	}{
		{"plain", &apperr.Error{Code: codes.NotFound, Reason: apperr.ReasonNotFound, Msg: "gone"}, "", 0},
		{"field", apperr.InvalidField("spec.width", "too wide"), "spec.width", 0},
		{"retry", &apperr.Error{Code: codes.ResourceExhausted, Reason: "RATE_LIMITED", Msg: "slow down",
			RetryAfter: 1500 * time.Millisecond}, "", 1500 * time.Millisecond},
		{"negative retry is none", &apperr.Error{Code: codes.ResourceExhausted, Reason: "X", Msg: "m", RetryAfter: -time.Second}, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, ok := status.FromError(c.err)
			if !ok || st.Code() != c.err.Code || st.Message() != c.err.Msg {
				t.Fatalf("status %v, want code %v message %q", st, c.err.Code, c.err.Msg)
			}
			if reason, field := apperr.Info(st); reason != c.err.Reason || field != c.wantField {
				t.Errorf("Info = %q, %q; want %q, %q", reason, field, c.err.Reason, c.wantField)
			}
			var retry time.Duration
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri.GetRetryDelay().AsDuration()
				}
			}
			if retry != c.wantRetry {
				t.Errorf("RetryInfo delay %s, want %s", retry, c.wantRetry)
			}
		})
	}
}
