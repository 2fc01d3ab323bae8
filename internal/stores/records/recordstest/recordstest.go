// Package recordstest is the conformance suite every records.Store driver
// must pass, so the embedded and the DynamoDB drivers keep one semantics.
package recordstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewID returns a time-ordered id, as the services make them.
func NewID(t testing.TB) string {
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

func newImage(t testing.TB, batch, key string) *pb.Image {
	return &pb.Image{
		Id:             NewID(t),
		BatchId:        batch,
		IdempotencyKey: key,
		State:          pb.ImageState_IMAGE_STATE_RECEIVED,
		Original:       &pb.OriginalInfo{FileName: "cat.jpg", Format: pb.Format_FORMAT_JPEG, Bytes: 1234, Sha256: "ab12"},
		CreateTime:     timestamppb.New(time.Now().Truncate(time.Microsecond)),
		Preset:         "default",
	}
}

// Run runs the suite. newStore returns a fresh, empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) records.Store) {
	ctx := context.Background()

	t.Run("CreateGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		img := newImage(t, "b1", "")
		rec, err := s.Create(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Version != 1 {
			t.Errorf("version after create = %d, want 1", rec.Version)
		}
		got, err := s.Get(ctx, img.Id)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.Image, img) || got.Version != 1 {
			t.Errorf("Get = %v v%d, want %v v1", got.Image, got.Version, img)
		}
	})

	t.Run("CreateDuplicateID", func(t *testing.T) {
		s := newStore(t)
		img := newImage(t, "", "")
		if _, err := s.Create(ctx, img); err != nil {
			t.Fatal(err)
		}
		other := proto.Clone(img).(*pb.Image)
		other.Preset = "avatar"
		if _, err := s.Create(ctx, other); !errors.Is(err, records.ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists", err)
		}
		got, _ := s.Get(ctx, img.Id)
		if got.Image.GetPreset() != "default" {
			t.Errorf("duplicate create overwrote the record: preset %q", got.Image.GetPreset())
		}
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		s := newStore(t)
		first := newImage(t, "", "upload-42")
		if _, err := s.Create(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, newImage(t, "", "upload-42")); !errors.Is(err, records.ErrExists) {
			t.Fatalf("Create with a taken key = %v, want ErrExists", err)
		}
		got, err := s.GetByIdempotencyKey(ctx, "upload-42")
		if err != nil {
			t.Fatal(err)
		}
		if got.Image.GetId() != first.Id {
			t.Errorf("GetByIdempotencyKey id = %s, want %s", got.Image.GetId(), first.Id)
		}
		if _, err := s.GetByIdempotencyKey(ctx, "nope"); !errors.Is(err, records.ErrNotFound) {
			t.Errorf("unknown key: %v, want ErrNotFound", err)
		}
		// Images without a key never collide with each other.
		for i := 0; i < 3; i++ {
			if _, err := s.Create(ctx, newImage(t, "", "")); err != nil {
				t.Fatalf("keyless create %d: %v", i, err)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, NewID(t)); !errors.Is(err, records.ErrNotFound) {
			t.Errorf("Get = %v, want ErrNotFound", err)
		}
		img := newImage(t, "", "")
		if _, err := s.Update(ctx, &records.Record{Image: img, Version: 1}); !errors.Is(err, records.ErrNotFound) {
			t.Errorf("Update of a missing record = %v, want ErrNotFound", err)
		}
	})

	t.Run("ConditionalUpdate", func(t *testing.T) {
		s := newStore(t)
		img := newImage(t, "", "")
		rec, _ := s.Create(ctx, img)
		upd := proto.Clone(rec.Image).(*pb.Image)
		upd.State = pb.ImageState_IMAGE_STATE_QUEUED
		next, err := s.Update(ctx, &records.Record{Image: upd, Version: rec.Version})
		if err != nil {
			t.Fatal(err)
		}
		if next.Version != 2 {
			t.Errorf("version = %d, want 2", next.Version)
		}
		stale := proto.Clone(rec.Image).(*pb.Image)
		stale.State = pb.ImageState_IMAGE_STATE_FAILED
		if _, err := s.Update(ctx, &records.Record{Image: stale, Version: rec.Version}); !errors.Is(err, records.ErrConflict) {
			t.Fatalf("stale update = %v, want ErrConflict", err)
		}
		got, _ := s.Get(ctx, img.Id)
		if got.Image.GetState() != pb.ImageState_IMAGE_STATE_QUEUED || got.Version != 2 {
			t.Errorf("after stale update: state %v v%d, want QUEUED v2", got.Image.GetState(), got.Version)
		}
	})

	t.Run("ConcurrentMutateLosesNothing", func(t *testing.T) {
		s := newStore(t)
		img := newImage(t, "", "")
		s.Create(ctx, img)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := records.Mutate(ctx, s, img.Id, func(im *pb.Image) error { im.Attempts++; return nil })
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.Get(ctx, img.Id)
		if got.Image.GetAttempts() != n || got.Version != n+1 {
			t.Errorf("attempts = %d v%d, want %d v%d", got.Image.GetAttempts(), got.Version, n, n+1)
		}
	})

	t.Run("ListByBatchPages", func(t *testing.T) {
		s := newStore(t)
		var want []string
		for i := 0; i < 25; i++ {
			img := newImage(t, "batch-a", "")
			if _, err := s.Create(ctx, img); err != nil {
				t.Fatal(err)
			}
			want = append(want, img.Id)
			if i%5 == 0 {
				s.Create(ctx, newImage(t, "batch-b", ""))
				s.Create(ctx, newImage(t, "", ""))
			}
		}
		var got []string
		token, pages := "", 0
		for {
			page, err := s.ListByBatch(ctx, "batch-a", 10, token)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Records) > 10 {
				t.Fatalf("page of %d records, asked for 10", len(page.Records))
			}
			for _, r := range page.Records {
				got = append(got, r.Image.GetId())
			}
			if page.NextPageToken == "" {
				break
			}
			token = page.NextPageToken
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("listed\n%v\nwant (id order)\n%v", got, want)
		}
		if pages != 3 {
			t.Errorf("%d pages, want 3", pages)
		}
		empty, err := s.ListByBatch(ctx, "no-such-batch", 10, "")
		if err != nil || len(empty.Records) != 0 || empty.NextPageToken != "" {
			t.Errorf("unknown batch: %d records, token %q, err %v", len(empty.Records), empty.NextPageToken, err)
		}
		if _, err := s.ListByBatch(ctx, "batch-a", 10, "not a token!"); !errors.Is(err, records.ErrInvalidToken) {
			t.Errorf("bad token = %v, want ErrInvalidToken", err)
		}
	})
}
