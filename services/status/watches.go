package status

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
)

// Reasons of the errors that end or refuse a watch.
const (
	// ReasonTooManyWatches: the caller's tenant already holds
	// Config.MaxWatchesPerTenant watch streams on this process.
	ReasonTooManyWatches = "TOO_MANY_WATCHES"
	// ReasonWatchExpired: a watch stream reached Config.MaxWatchDuration;
	// the client reconnects to continue.
	ReasonWatchExpired = "WATCH_EXPIRED"
)

// watchSlots counts the open watch streams of each tenant on this process.
// A tenant's entry is deleted when its count drops to zero, so the map
// holds only tenants with a watch open.
type watchSlots struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newWatchSlots(max int) *watchSlots {
	return &watchSlots{max: max, n: map[string]int{}}
}

// acquire takes a slot for tenant and returns its release (to call once),
// or RESOURCE_EXHAUSTED when the tenant holds max slots already.
func (w *watchSlots) acquire(tenant string) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[tenant] >= w.max {
		return nil, &apperr.Error{Code: codes.ResourceExhausted, Reason: ReasonTooManyWatches,
			Msg: fmt.Sprintf("tenant %q has %d watch streams open, the most this server allows: close one, or poll GetImage/GetBatch instead", tenant, w.max)}
	}
	w.n[tenant]++
	var once sync.Once
	return func() { once.Do(func() { w.release(tenant) }) }, nil
}

func (w *watchSlots) release(tenant string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[tenant]--; w.n[tenant] <= 0 {
		delete(w.n, tenant)
	}
}

// open returns the number of open watches of tenant (for tests) and how
// many tenants hold one.
func (w *watchSlots) open(tenant string) (n, tenants int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[tenant], len(w.n)
}

// errWatchExpired is the cause of a watch context that reached
// Config.MaxWatchDuration.
var errWatchExpired = errors.New("watch reached its maximum duration")

// startWatch takes a watch slot for tenant and returns the context the
// watch runs in, ended after Config.MaxWatchDuration, and the function
// that releases both (to defer).
func (s *Service) startWatch(ctx context.Context, tenant string) (context.Context, func(), error) {
	release, err := s.watches.acquire(tenant)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeoutCause(ctx, s.cfg.MaxWatchDuration, errWatchExpired)
	return wctx, func() { cancel(); release() }, nil
}

// watchEnded is the error a watch returns when its context ends: the
// client left (or its deadline passed), or the watch expired.
func (s *Service) watchEnded(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), errWatchExpired) {
		return &apperr.Error{Code: codes.DeadlineExceeded, Reason: ReasonWatchExpired,
			Msg: fmt.Sprintf("the watch reached its maximum duration (%s): reconnect to continue", s.cfg.MaxWatchDuration)}
	}
	return ctx.Err()
}
