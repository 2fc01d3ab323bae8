package sqlitetenants_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	_ "github.com/imagepipe/imagepipe/internal/stores/deliveries/sqlitedeliveries"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	_ "github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/sqlitetenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/tenantstest"
	"google.golang.org/protobuf/proto"
)

func TestConformance(t *testing.T) {
	tenantstest.Run(t, func(t *testing.T) tenants.Store {
		s, err := sqlitetenants.New(filepath.Join(t.TempDir(), "status.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// The tenants store, the image records and the delivery log share the
// status store's file, opened with one URL, in any order.
func TestSharesTheStatusFile(t *testing.T) {
	ctx := context.Background()
	openers := map[string]func(string) error{
		"records":    openAndClose(ctx, records.Open),
		"deliveries": openAndClose(ctx, deliveries.Open),
		"tenants":    openAndClose(ctx, tenants.Open),
	}
	for _, order := range [][]string{{"tenants", "records", "deliveries"}, {"records", "deliveries", "tenants"}} {
		statusURL := "sqlite://" + filepath.Join(t.TempDir(), "status.db")
		for _, name := range order {
			if err := openers[name](statusURL); err != nil {
				t.Fatalf("open %s: %v", name, err)
			}
		}
		rs, err := records.Open(ctx, statusURL)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		ts, err := tenants.Open(ctx, statusURL)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		img := &pb.Image{Id: "acme", State: pb.ImageState_IMAGE_STATE_READY}
		if _, err := rs.Create(ctx, img); err != nil {
			t.Fatal(err)
		}
		k := tenantstest.NewKey(t, "acme")
		k.ID = img.Id // the same key in every table collides with nothing
		if err := ts.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.PutTenant(ctx, tenants.Tenant{Name: "acme", WebhookSecrets: []string{"s"}}); err != nil {
			t.Fatal(err)
		}
		if got, err := rs.Get(ctx, img.Id); err != nil || !proto.Equal(got.Image, img) {
			t.Errorf("order %v: image record = %v, %v; want %v", order, got, err, img)
		}
		if got, err := ts.GetKey(ctx, k.ID); err != nil || got.Tenant != "acme" {
			t.Errorf("order %v: key = %v, %v; want the key", order, got, err)
		}
	}
}

// openAndClose opens a store with open, which creates its tables, and closes
// it.
func openAndClose[S io.Closer](ctx context.Context, open func(context.Context, string) (S, error)) func(string) error {
	return func(u string) error {
		s, err := open(ctx, u)
		if err != nil {
			return err
		}
		return s.Close()
	}
}

// Two stores on one file behave like two processes: each respects the
// other's conditional writes.
func TestTwoProcessesShareOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	a, err := sqlitetenants.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlitetenants.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k := tenantstest.NewKey(t, "acme")
	if err := a.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateKey(ctx, k); !errors.Is(err, tenants.ErrExists) {
		t.Fatalf("CreateKey of a taken id through the other store = %v, want ErrExists", err)
	}
	v1, err := a.PutTenant(ctx, tenants.Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutTenant(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutTenant(ctx, v1); !errors.Is(err, tenants.ErrConflict) {
		t.Fatalf("stale PutTenant through the other store = %v, want ErrConflict", err)
	}
	if _, err := b.RevokeKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := a.GetKey(ctx, k.ID); err != nil || !got.Revoked() {
		t.Fatalf("GetKey through the other store = %v, %v; want it revoked", got, err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"sqlite://", "sqlite:///", "sqlite:///tmp/dir/", "nosuch:///x.db"} {
		if s, err := tenants.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}
