package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// SweepResumable runs until ctx ends, every ResumableSweep removing the
// resumable uploads that expired (SweepExpired). Every ingest process
// sweeps; removing a partial twice is harmless.
func (s *Service) SweepResumable(ctx context.Context) error {
	if _, err := s.partials(); err != nil {
		return nil // nothing to sweep
	}
	t := time.NewTicker(s.cfg.ResumableSweep)
	defer t.Stop()
	for {
		if n, err := s.SweepExpired(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.Log.Warn("sweeping expired resumable uploads failed", "removed", n, "err", err)
		} else if n > 0 {
			s.Log.Info("removed expired resumable uploads", "removed", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepExpired removes the resumable uploads created more than
// ResumableExpiry before now and never finished, with their bytes, and
// returns how many. A partial whose bytes are complete but whose image
// was never recorded (its process died, and no request came back for it
// in time) goes too, object and all; one whose image exists loses only
// its bookkeeping.
func (s *Service) SweepExpired(ctx context.Context, now time.Time) (int, error) {
	ps, err := s.partials()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	err = ps.ListPartials(ctx, now.Add(-s.cfg.ResumableExpiry), func(p blob.Partial) error {
		if err := s.expire(ctx, ps, p); err != nil {
			errs = append(errs, err)
			return nil
		}
		n++
		return nil
	})
	return n, errors.Join(append(errs, err)...)
}

// completeGrace is how much longer than ResumableExpiry a complete
// partial whose image is not recorded is kept: the write that completed
// it may still be recording the image.
const completeGrace = time.Hour

func (s *Service) expire(ctx context.Context, ps blob.PartialStore, p blob.Partial) error {
	if p.Complete {
		_, err := s.Records.Get(ctx, p.Key)
		switch {
		case errors.Is(err, records.ErrNotFound) && time.Since(p.Created) < s.cfg.ResumableExpiry+completeGrace:
			return nil
		case errors.Is(err, records.ErrNotFound):
			if err := s.Originals.Delete(ctx, p.Key); err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
	return ps.DeletePartial(ctx, p.Key)
}
