package jobs_test

import (
	"errors"
	"path/filepath"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
)

func stores(t *testing.T) (records.Store, *sqlitequeue.Queue) {
	t.Helper()
	dir := t.TempDir()
	rs, err := sqliterecords.New(filepath.Join(dir, "status.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	q, err := sqlitequeue.New(filepath.Join(dir, "queue.db"), sqlitequeue.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return rs, q
}

// jobsOn receives every job on q and returns their image ids.
func jobsOn(t *testing.T, q queue.Queue) []string {
	t.Helper()
	msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: queue.MaxBatch})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		j, err := jobs.Decode(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ImageID)
	}
	return ids
}

func TestRetry(t *testing.T) {
	failed := func() *pb.Image {
		return &pb.Image{
			State:    pb.ImageState_IMAGE_STATE_FAILED,
			Attempts: 3,
			Retries:  1,
			Error:    &pb.ImageError{Code: "processing_failed", Message: "processing failed after 3 attempts"},
			Variants: []*pb.VariantInfo{{Name: "thumb"}},
			Original: &pb.OriginalInfo{FileName: "cat.jpg"},
		}
	}
	cases := []struct {
		name        string
		state       pb.ImageState
		wantErr     error
		wantRetries int32
	}{
		{"failed", pb.ImageState_IMAGE_STATE_FAILED, nil, 2},
		{"received: an interrupted retry", pb.ImageState_IMAGE_STATE_RECEIVED, nil, 1},
		{"queued", pb.ImageState_IMAGE_STATE_QUEUED, jobs.ErrNotFailed, 1},
		{"processing", pb.ImageState_IMAGE_STATE_PROCESSING, jobs.ErrNotFailed, 1},
		{"ready", pb.ImageState_IMAGE_STATE_READY, jobs.ErrNotFailed, 1},
		{"awaiting upload", pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD, jobs.ErrNotFailed, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, q := stores(t)
			img := failed()
			img.Id, img.State = jobs.NewID(), c.state
			if _, err := rs.Create(t.Context(), img); err != nil {
				t.Fatal(err)
			}
			rec, err := jobs.Retry(t.Context(), rs, q, img.Id)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Retry = %v, %v; want %v", rec, err, c.wantErr)
				}
				cur, err := rs.Get(t.Context(), img.Id)
				if err != nil {
					t.Fatal(err)
				}
				if cur.Version != 1 {
					t.Errorf("record written (version %d) although Retry refused", cur.Version)
				}
				if got := jobsOn(t, q); len(got) != 0 {
					t.Errorf("jobs queued: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Retry: %v", err)
			}
			got := rec.Image
			if got.GetState() != pb.ImageState_IMAGE_STATE_QUEUED || got.GetRetries() != c.wantRetries {
				t.Errorf("state %s, retries %d; want QUEUED, %d", got.GetState(), got.GetRetries(), c.wantRetries)
			}
			if c.state == pb.ImageState_IMAGE_STATE_FAILED && (got.GetError() != nil || got.GetAttempts() != 0 || len(got.GetVariants()) != 0) {
				t.Errorf("error %v, attempts %d, variants %v; want all cleared", got.GetError(), got.GetAttempts(), got.GetVariants())
			}
			if got.GetOriginal().GetFileName() != "cat.jpg" {
				t.Errorf("original info lost: %v", got.GetOriginal())
			}
			if ids := jobsOn(t, q); len(ids) != 1 || ids[0] != img.Id {
				t.Errorf("jobs queued: %v, want one for %s", ids, img.Id)
			}
		})
	}
}

func TestRetryNotFound(t *testing.T) {
	rs, q := stores(t)
	if _, err := jobs.Retry(t.Context(), rs, q, jobs.NewID()); !errors.Is(err, records.ErrNotFound) {
		t.Fatalf("Retry of a missing image: %v, want records.ErrNotFound", err)
	}
}

// TestRetryFinishesAfterEnqueueFailure: a retry whose job could not be sent
// leaves the image RECEIVED; the next Retry queues it without counting
// another retry.
func TestRetryFinishesAfterEnqueueFailure(t *testing.T) {
	rs, q := stores(t)
	id := jobs.NewID()
	if _, err := rs.Create(t.Context(), &pb.Image{Id: id, State: pb.ImageState_IMAGE_STATE_FAILED, Error: &pb.ImageError{Code: "corrupt"}}); err != nil {
		t.Fatal(err)
	}
	closed, err := sqlitequeue.New(filepath.Join(t.TempDir(), "closed.db"), sqlitequeue.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := jobs.Retry(t.Context(), rs, closed, id); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Retry on a closed queue: %v, want ErrClosed", err)
	}
	cur, err := rs.Get(t.Context(), id)
	if err != nil || cur.Image.GetState() != pb.ImageState_IMAGE_STATE_RECEIVED || cur.Image.GetRetries() != 1 {
		t.Fatalf("after the failed enqueue: %v, %v; want RECEIVED with 1 retry", cur, err)
	}
	rec, err := jobs.Retry(t.Context(), rs, q, id)
	if err != nil || rec.Image.GetState() != pb.ImageState_IMAGE_STATE_QUEUED || rec.Image.GetRetries() != 1 {
		t.Fatalf("second Retry = %v, %v; want QUEUED with 1 retry", rec, err)
	}
	if ids := jobsOn(t, q); len(ids) != 1 || ids[0] != id {
		t.Errorf("jobs queued: %v", ids)
	}
}
