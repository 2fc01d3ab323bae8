package limits_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"google.golang.org/grpc/codes"
)

func mustNew(t *testing.T, cfg limits.Config) *limits.Limiter {
	t.Helper()
	l, err := limits.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAllowRefusesWithoutConsuming(t *testing.T) {
	l := mustNew(t, limits.Config{RPS: 1, Burst: 1})
	if err := l.Allow("acme"); err != nil {
		t.Fatal(err)
	}
	for range 3 { // refusals take no token: the delay does not grow
		err := l.Allow("acme")
		e, ok := apperr.As(err)
		if !ok || e.Code != codes.ResourceExhausted || e.Reason != limits.ReasonRateLimited {
			t.Fatalf("over the rate: %v", err)
		}
		if e.RetryAfter <= 0 || e.RetryAfter > time.Second {
			t.Errorf("RetryAfter %s, want in (0, 1s]", e.RetryAfter)
		}
	}
}

func TestUploadSlotsAreReleasedOnce(t *testing.T) {
	l := mustNew(t, limits.Config{UploadsInFlight: 1})
	release, err := l.AcquireUpload("acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AcquireUpload("globex"); err == nil {
		t.Fatal("second upload over a cap of 1 accepted")
	}
	release()
	release() // a second call frees nothing more
	r2, err := l.AcquireUpload("globex")
	if err != nil {
		t.Fatal(err)
	}
	defer r2()
	if _, err := l.AcquireUpload(""); err == nil {
		t.Fatal("upload without a tenant escaped the process cap")
	}
}

func TestSweepKeepsTheTenantMapBounded(t *testing.T) {
	l := mustNew(t, limits.DefaultConfig())
	for i := range 10_000 {
		if err := l.Allow(fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	release, err := l.AcquireUpload("busy")
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Tenants(); n != 10_001 {
		t.Fatalf("%d tenants held, want 10001", n)
	}
	if n := l.Sweep(time.Now()); n != 10_001 {
		t.Errorf("sweep of fresh tenants left %d, want all 10001", n)
	}
	// Past IdleAfter every bucket is full again: all go but the one
	// with an upload in flight.
	later := time.Now().Add(limits.IdleAfter + time.Minute)
	if n := l.Sweep(later); n != 1 {
		t.Errorf("sweep of idle tenants left %d, want 1 (the busy one)", n)
	}
	release()
	if n := l.Sweep(later.Add(limits.IdleAfter + time.Minute)); n != 0 {
		t.Errorf("after its upload ended and it idled, %d left", n)
	}
}

func TestSweepKeepsABucketNotYetRefilled(t *testing.T) {
	// 1 token per hour: after IdleAfter the bucket is still short, and
	// dropping it would hand the tenant a fresh burst.
	l := mustNew(t, limits.Config{RPS: 1.0 / 3600, Burst: 1})
	if err := l.Allow("slow"); err != nil {
		t.Fatal(err)
	}
	if n := l.Sweep(time.Now().Add(limits.IdleAfter + time.Minute)); n != 1 {
		t.Errorf("swept a bucket that has not refilled: %d left", n)
	}
	if n := l.Sweep(time.Now().Add(2 * time.Hour)); n != 0 {
		t.Errorf("refilled idle bucket kept: %d left", n)
	}
}
