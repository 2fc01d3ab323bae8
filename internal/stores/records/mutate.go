package records

import (
	"context"
	"errors"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrNoChange, returned by a Mutate callback, ends Mutate without writing.
var ErrNoChange = errors.New("records: no change")

// Mutate reads the record, lets fn change a copy of the image, and writes it
// back conditionally, re-reading and calling fn again whenever another writer
// got there first. fn must be a pure function of the image it is given. If fn
// returns ErrNoChange, Mutate returns the current record and ErrNoChange.
func Mutate(ctx context.Context, s Store, id string, fn func(img *pb.Image) error) (*Record, error) {
	for {
		rec, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		img := proto.Clone(rec.Image).(*pb.Image)
		if err := fn(img); err != nil {
			return rec, err
		}
		img.UpdateTime = timestamppb.Now()
		next, err := s.Update(ctx, &Record{Image: img, Version: rec.Version})
		if errors.Is(err, ErrConflict) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return next, err
	}
}

// rank orders states; a record may only move to a state of higher rank,
// except PROCESSING -> PROCESSING (another attempt).
func rank(s pb.ImageState) int {
	switch s {
	case pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD:
		return 0
	case pb.ImageState_IMAGE_STATE_RECEIVED:
		return 1
	case pb.ImageState_IMAGE_STATE_QUEUED:
		return 2
	case pb.ImageState_IMAGE_STATE_PROCESSING:
		return 3
	case pb.ImageState_IMAGE_STATE_READY, pb.ImageState_IMAGE_STATE_FAILED:
		return 4
	case pb.ImageState_IMAGE_STATE_DELETED:
		return 5
	}
	return 0
}

// Terminal reports whether s is READY, FAILED or DELETED: no more work
// will be done on the image.
func Terminal(s pb.ImageState) bool { return rank(s) >= 4 }

// CanMove reports whether an image may go from state from to state to.
func CanMove(from, to pb.ImageState) bool {
	if from == pb.ImageState_IMAGE_STATE_PROCESSING && to == from {
		return true
	}
	return rank(to) > rank(from)
}
