package records_test

import (
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

func TestCanMove(t *testing.T) {
	const (
		received   = pb.ImageState_IMAGE_STATE_RECEIVED
		queued     = pb.ImageState_IMAGE_STATE_QUEUED
		processing = pb.ImageState_IMAGE_STATE_PROCESSING
		ready      = pb.ImageState_IMAGE_STATE_READY
		failed     = pb.ImageState_IMAGE_STATE_FAILED
	)
	cases := []struct {
		from, to pb.ImageState
		ok       bool
	}{
		{received, queued, true},
		{received, processing, true}, // the job can beat ingest's QUEUED write
		{queued, processing, true},
		{processing, processing, true}, // another attempt
		{processing, ready, true},
		{processing, failed, true},
		{received, failed, true},
		{queued, received, false},
		{processing, queued, false},
		{queued, queued, false},
		{ready, processing, false},
		{ready, failed, false},
		{failed, ready, false},
		{ready, ready, false},
	}
	for _, c := range cases {
		if got := records.CanMove(c.from, c.to); got != c.ok {
			t.Errorf("CanMove(%s, %s) = %v, want %v", c.from, c.to, got, c.ok)
		}
	}
	if !records.Terminal(ready) || !records.Terminal(failed) || records.Terminal(processing) {
		t.Error("Terminal is wrong")
	}
}
