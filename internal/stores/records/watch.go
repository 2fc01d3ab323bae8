package records

import (
	"context"
	"time"
)

// Watch polls a record every interval and calls fn (if not nil) with the
// current record and with every later version, until the image reaches a
// terminal state (returning the terminal record and nil), fn returns an
// error, or ctx ends (returning the last record seen and ctx's error).
// Polling works across processes and drivers alike; interval bounds the
// delay.
func Watch(ctx context.Context, s Store, id string, interval time.Duration, fn func(*Record) error) (*Record, error) {
	var last *Record
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rec, err := s.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, err
		}
		if last == nil || rec.Version != last.Version {
			last = rec
			if fn != nil {
				if err := fn(rec); err != nil {
					return last, err
				}
			}
			if Terminal(rec.Image.GetState()) {
				return last, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}
