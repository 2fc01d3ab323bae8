package imaging

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// renderWithExtras renders the variants into res.Variants and computes
// res.Extras. The extras (a few ms) are computed alongside the variants
// when a job may use more than one thread, else after them: a
// single-threaded job stays on one core, so a pool of them scales with the
// cores.
func renderWithExtras(ctx context.Context, d *decoded, variants []Variant, plans []plan, res *Result) error {
	var err, extrasErr error
	if parallelism() > 1 {
		extrasDone := make(chan struct{})
		go func() {
			defer close(extrasDone)
			res.Extras, extrasErr = extras(d)
		}()
		err = renderAll(ctx, d, variants, plans, res.Variants)
		<-extrasDone
	} else if err = renderAll(ctx, d, variants, plans, res.Variants); err == nil {
		res.Extras, extrasErr = extras(d)
	}
	if err != nil {
		return err
	}
	if extrasErr != nil {
		return fmt.Errorf("imaging: extras: %w", cleanCause(extrasErr))
	}
	return nil
}

// renderAll renders the variants, up to Config.Parallelism at once, into
// outs (same order). The costliest start first (longest-processing-time
// first: the large WebP does not wait behind the thumbnail). The first error
// by variant order wins, except that an error caused by cancelling the
// others never hides the one that caused it.
func renderAll(ctx context.Context, d *decoded, variants []Variant, plans []plan, outs []Output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := costliestFirst(d, variants, plans)
	errs := make([]error, len(variants))
	var wg sync.WaitGroup
	for w := 0; w < min(parallelism(), len(variants)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				if err := renderTimed(ctx, d, variants[i], plans[i], &outs[i]); err != nil {
					errs[i] = err
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	return firstError(errs)
}

// costliestFirst returns a closed queue of the variants' indices, costliest
// first (by cost; stable for equal costs).
func costliestFirst(d *decoded, variants []Variant, plans []plan) <-chan int {
	order := make([]int, len(variants))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return cost(d, variants[order[a]], plans[order[a]]) > cost(d, variants[order[b]], plans[order[b]])
	})
	queue := make(chan int, len(order))
	for _, i := range order {
		queue <- i
	}
	close(queue)
	return queue
}

// renderTimed renders v into *out and times it. Errors other than *Error
// and ctx's own are internal: they are wrapped with the variant's name.
func renderTimed(ctx context.Context, d *decoded, v Variant, p plan, out *Output) error {
	t0 := time.Now()
	o, err := render(ctx, d, v, p)
	if err != nil {
		var ie *Error
		if !errors.As(err, &ie) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("imaging: variant %q: %w", v.Name, cleanCause(err))
		}
		return err
	}
	o.Start, o.Elapsed = t0, time.Since(t0)
	*out = o
	return nil
}

// firstError returns the first error of errs (by variant order) that is not
// a cancellation, else the first cancellation, else nil.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// cost estimates the work of a variant: output pixels (all frames), with
// AVIF (tried for FormatAuto too) weighted as the slow encoder it is.
func cost(d *decoded, v Variant, p plan) float64 {
	c := float64(p.cw) * float64(p.ch)
	if d.frames > 1 && v.animated() {
		c *= float64(d.frames)
	}
	if v.Format == FormatAVIF || v.Format == FormatAuto {
		c *= 10
	}
	return c
}

// parallelism is how many variants of one job render at once.
func parallelism() int {
	if n := config.Parallelism; n > 0 {
		return n
	}
	return 1
}
