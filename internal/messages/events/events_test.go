package events_test

import (
	"context"
	"path/filepath"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/events"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

// Emit queues an event for READY, FAILED and DELETED images only; a
// deletion's carries retries 0, whatever the image had.
func TestEmit(t *testing.T) {
	tests := []struct {
		name string
		img  *pb.Image
		want *events.ImageEvent // nil: nothing emitted
	}{
		{"ready", &pb.Image{Id: "i1", State: pb.ImageState_IMAGE_STATE_READY, Retries: 1},
			&events.ImageEvent{ID: "i1", State: "IMAGE_STATE_READY", Retries: 1}},
		{"failed", &pb.Image{Id: "i2", State: pb.ImageState_IMAGE_STATE_FAILED},
			&events.ImageEvent{ID: "i2", State: "IMAGE_STATE_FAILED"}},
		{"deleted", &pb.Image{Id: "i3", State: pb.ImageState_IMAGE_STATE_DELETED, Retries: 3},
			&events.ImageEvent{ID: "i3", State: "IMAGE_STATE_DELETED", Retries: 0}},
		{"processing", &pb.Image{Id: "i4", State: pb.ImageState_IMAGE_STATE_PROCESSING}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			q, err := sqlitequeue.New(filepath.Join(t.TempDir(), "q.db"), sqlitequeue.Options{Name: "events"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			if err := events.Emit(ctx, q, tt.img); err != nil {
				t.Fatal(err)
			}
			ms, err := q.Receive(ctx, queue.ReceiveOptions{MaxMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(ms) != 0 {
					t.Fatalf("emitted %d messages, want none", len(ms))
				}
				return
			}
			if len(ms) != 1 {
				t.Fatalf("emitted %d messages, want 1", len(ms))
			}
			m, err := events.Decode(ms[0].Body)
			if err != nil || m.Image == nil || *m.Image != *tt.want || m.Delivery != "" {
				t.Fatalf("message %s (%v): want image event %+v", ms[0].Body, err, *tt.want)
			}
		})
	}
	if err := events.Emit(context.Background(), nil, &pb.Image{Id: "i", State: pb.ImageState_IMAGE_STATE_DELETED}); err != nil {
		t.Fatalf("Emit without a queue = %v, want nil", err)
	}
}

func TestDecode(t *testing.T) {
	for _, body := range []string{`not json`, `{}`, `{"image":{"id":"i"},"delivery":"d"}`, `{"image":{"state":"IMAGE_STATE_READY"}}`} {
		if _, err := events.Decode([]byte(body)); err == nil {
			t.Errorf("Decode(%s): want an error", body)
		}
	}
	m := events.Message{Delivery: "dlv_1"}
	if got, err := events.Decode(m.Encode()); err != nil || got.Delivery != "dlv_1" || got.Image != nil {
		t.Errorf("Decode(Encode(%+v)) = %+v, %v", m, got, err)
	}
}
