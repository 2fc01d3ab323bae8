package status_test

import (
	"context"
	"flag"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/services/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// openWatch starts a watch of image id as tenant and returns the error of
// function that closes it and the error of its first Recv (nil: the
// watch is open and sent the image).
func openWatch(t *testing.T, c pb.StatusServiceClient, tenant, id string) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := c.WatchImage(as(ctx, tenant, auth.ScopeRead), &pb.WatchImageRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	return cancel, err
}

// openBatchWatch is openWatch for WatchBatch.
func openBatchWatch(t *testing.T, c pb.StatusServiceClient, tenant, batch string) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := c.WatchBatch(as(ctx, tenant, auth.ScopeRead), &pb.WatchBatchRequest{Id: batch})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	return cancel, err
}

// wantReason checks err's code and reason.
func wantReason(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	st := grpcstatus.Convert(err)
	if got, _ := apperr.Info(st); st.Code() != code || got != reason {
		t.Errorf("%s: %v (reason %q), want %s (reason %q)", what, err, got, code, reason)
	}
}

// With a cap of 2, a tenant's third watch (of either kind) is refused
// while another tenant's is accepted; once the first two end, their slots
// are free again.
func TestWatchesCappedPerTenant(t *testing.T) {
	cfg := status.DefaultConfig()
	cfg.PollInterval = 10 * time.Millisecond
	cfg.MaxWatchesPerTenant = 2
	c, rs := serveConfig(t, cfg)
	acme := create(t, rs, &pb.Image{Tenant: "acme", BatchId: "b", State: received})
	globex := create(t, rs, &pb.Image{Tenant: "globex", State: received})

	close1, err1 := openWatch(t, c, "acme", acme)
	close2, err2 := openBatchWatch(t, c, "acme", "b")
	if err1 != nil || err2 != nil {
		t.Fatalf("first two watches: %v, %v", err1, err2)
	}
	_, err := openWatch(t, c, "acme", acme)
	wantReason(t, "third WatchImage", err, codes.ResourceExhausted, status.ReasonTooManyWatches)
	_, err = openBatchWatch(t, c, "acme", "b")
	wantReason(t, "third WatchBatch", err, codes.ResourceExhausted, status.ReasonTooManyWatches)
	if _, err := openWatch(t, c, "globex", globex); err != nil {
		t.Errorf("another tenant's watch: %v", err)
	}

	close1()
	close2()
	// The server sees each stream end shortly after the client does: both
	// slots come back, one watch each.
	deadline := time.Now().Add(5 * time.Second)
	for _, which := range []string{"first", "second"} {
		for {
			_, err := openWatch(t, c, "acme", acme)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s watch after the first two ended: %v", which, err)
			}
			wantReason(t, "watch while the first two end", err, codes.ResourceExhausted, status.ReasonTooManyWatches)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// A watch that reaches MaxWatchDuration ends with DEADLINE_EXCEEDED
// (WATCH_EXPIRED), and frees its slot.
func TestWatchExpires(t *testing.T) {
	const max = 300 * time.Millisecond
	cfg := status.DefaultConfig()
	cfg.PollInterval = 10 * time.Millisecond
	cfg.MaxWatchesPerTenant = 1
	cfg.MaxWatchDuration = max
	c, rs := serveConfig(t, cfg)
	id := create(t, rs, &pb.Image{Tenant: "acme", BatchId: "b", State: received})

	for _, kind := range []string{"WatchImage", "WatchBatch"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = as(ctx, "acme", auth.ScopeRead)
		start := time.Now()
		var recv func() error
		if kind == "WatchImage" {
			stream, err := c.WatchImage(ctx, &pb.WatchImageRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			recv = func() error { _, err := stream.Recv(); return err }
		} else {
			stream, err := c.WatchBatch(ctx, &pb.WatchBatchRequest{Id: "b"})
			if err != nil {
				t.Fatal(err)
			}
			recv = func() error { _, err := stream.Recv(); return err }
		}
		if err := recv(); err != nil {
			t.Fatalf("%s: first message: %v", kind, err)
		}
		err := recv()
		took := time.Since(start)
		wantReason(t, kind+" past its maximum duration", err, codes.DeadlineExceeded, status.ReasonWatchExpired)
		if took < max || took > max+5*time.Second {
			t.Errorf("%s ended after %s, want about %s", kind, took, max)
		}
		// With a cap of 1, the next kind's watch opening shows the slot
		// was freed.
	}
}

func TestWatchConfig(t *testing.T) {
	cfg := status.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-status.max-watches-per-tenant=3", "-status.max-watch-duration=90s"}); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxWatchesPerTenant != 3 || cfg.MaxWatchDuration != 90*time.Second {
		t.Errorf("flags gave %d, %s", cfg.MaxWatchesPerTenant, cfg.MaxWatchDuration)
	}
	for name, f := range map[string]func(*status.Config){
		"no watches":        func(c *status.Config) { c.MaxWatchesPerTenant = 0 },
		"zero duration":     func(c *status.Config) { c.MaxWatchDuration = 0 },
		"duration over 24h": func(c *status.Config) { c.MaxWatchDuration = 25 * time.Hour },
	} {
		bad := status.DefaultConfig()
		f(&bad)
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
	}
}
