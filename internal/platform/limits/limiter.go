package limits

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
)

// Reasons of the errors this package returns (RESOURCE_EXHAUSTED).
const (
	ReasonRateLimited    = "RATE_LIMITED"
	ReasonTooManyUploads = "TOO_MANY_UPLOADS"
)

// UploadRetryAfter is the retry hint of an upload refused for the uploads
// in flight: a slot frees when any upload ends, which cannot be foretold.
const UploadRetryAfter = time.Second

// IdleAfter is how long a tenant's state (its token bucket, its uploads
// count at zero) is kept unused before it is dropped, so the state held
// follows the tenants active lately, not every tenant ever seen.
const IdleAfter = 10 * time.Minute

// Limiter enforces a Config. It is safe for concurrent use.
type Limiter struct {
	cfg Config

	mu        sync.Mutex
	tenants   map[string]*tenantState
	uploads   int       // process-wide uploads in flight
	fullAt    time.Time // when uploads last reached the process's cap
	lastSweep time.Time
}

// tenantState is one tenant's token bucket and uploads in flight.
type tenantState struct {
	bucket   *rate.Limiter // nil: no rate limit
	uploads  int
	lastUsed time.Time
}

// New returns a Limiter enforcing cfg, after validating it.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{cfg: cfg, tenants: map[string]*tenantState{}, lastSweep: time.Now()}, nil
}

// limitsOf returns tenant's rate, burst and uploads cap: its overrides
// over the defaults.
func (l *Limiter) limitsOf(tenant string) (rps float64, burst, uploads int) {
	rps, burst, uploads = l.cfg.RPS, l.cfg.Burst, l.cfg.TenantUploadsInFlight
	if t, ok := l.cfg.Tenants[tenant]; ok {
		if t.RPS > 0 {
			rps = t.RPS
		}
		if t.Burst > 0 {
			burst = t.Burst
		}
		if t.Uploads > 0 {
			uploads = t.Uploads
		}
	}
	return rps, max(burst, 1), uploads
}

// state returns tenant's state, created on first use; l.mu is held.
func (l *Limiter) state(tenant string, now time.Time) *tenantState {
	if now.Sub(l.lastSweep) >= IdleAfter/2 {
		l.sweep(now)
	}
	s, ok := l.tenants[tenant]
	if !ok {
		s = &tenantState{}
		if rps, burst, _ := l.limitsOf(tenant); rps > 0 {
			s.bucket = rate.NewLimiter(rate.Limit(rps), burst)
		}
		l.tenants[tenant] = s
	}
	s.lastUsed = now
	return s
}

// Allow takes one token from tenant's bucket. Over the rate it takes
// none and returns a RESOURCE_EXHAUSTED *apperr.Error (RATE_LIMITED)
// whose RetryAfter is when the next token is due.
func (l *Limiter) Allow(tenant string) error {
	now := time.Now()
	l.mu.Lock()
	s := l.state(tenant, now)
	l.mu.Unlock()
	if s.bucket == nil {
		return nil
	}
	r := s.bucket.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	r.CancelAt(now) // refused: give the token back
	if !r.OK() || delay == rate.InfDuration {
		delay = time.Second
	}
	return &apperr.Error{Code: codes.ResourceExhausted, Reason: ReasonRateLimited, RetryAfter: delay,
		Msg: fmt.Sprintf("tenant %s is over its rate of %s requests per second: retry in %s",
			tenant, formatRate(float64(s.bucket.Limit())), roundUp(delay))}
}

// AcquireUpload takes an upload slot, in the process and, unless tenant
// is empty, in tenant's share, both or neither. Over either cap it
// returns a RESOURCE_EXHAUSTED *apperr.Error (TOO_MANY_UPLOADS). Call
// release, once, when the upload ends.
func (l *Limiter) AcquireUpload(tenant string) (release func(), err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var s *tenantState
	if tenant != "" {
		s = l.state(tenant, now)
		if _, _, limit := l.limitsOf(tenant); limit > 0 && s.uploads >= limit {
			return nil, tooManyUploads(fmt.Sprintf("tenant %s has %d uploads in flight, its limit: retry when one ends", tenant, limit))
		}
	}
	if limit := l.cfg.UploadsInFlight; limit > 0 && l.uploads >= limit {
		l.fullAt = now
		return nil, tooManyUploads("the server has its limit of uploads in flight: retry shortly")
	}
	l.uploads++
	if l.uploads == l.cfg.UploadsInFlight {
		l.fullAt = now
	}
	if s != nil {
		s.uploads++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.uploads--
			if s != nil {
				s.uploads--
				s.lastUsed = time.Now()
			}
		})
	}, nil
}

func tooManyUploads(msg string) *apperr.Error {
	return &apperr.Error{Code: codes.ResourceExhausted, Reason: ReasonTooManyUploads, Msg: msg, RetryAfter: UploadRetryAfter}
}

// Sweep drops the state of tenants unused since IdleAfter before now, with
// no upload in flight and a full bucket (so dropping it changes nothing),
// and returns how many tenants are left. The Limiter sweeps by itself
// every IdleAfter/2 as it is used.
func (l *Limiter) Sweep(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	return len(l.tenants)
}

func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for name, s := range l.tenants {
		if s.uploads > 0 || now.Sub(s.lastUsed) < IdleAfter {
			continue
		}
		if s.bucket != nil && s.bucket.TokensAt(now) < float64(s.bucket.Burst()) {
			continue
		}
		delete(l.tenants, name)
	}
}

// Tenants returns how many tenants the Limiter holds state for.
func (l *Limiter) Tenants() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tenants)
}

func formatRate(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%g", r)
}

// roundUp rounds d up to a whole millisecond, for messages.
func roundUp(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// UploadStats are the process's uploads in flight against its cap.
type UploadStats struct {
	InFlight int
	// Limit is limits.uploads-in-flight; 0: no cap.
	Limit int
	// FullAt is when every slot was last taken (the cap reached, or an
	// upload refused for it); zero if never.
	FullAt time.Time
}

// Uploads returns the process's uploads in flight.
func (l *Limiter) Uploads() UploadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return UploadStats{InFlight: l.uploads, Limit: l.cfg.UploadsInFlight, FullAt: l.fullAt}
}

// UploadsCheck is a readiness Check of the process's uploads in flight:
// saturated while every slot is taken, and for window after (so that a
// check made every window sees a cap reached between two checks).
func (l *Limiter) UploadsCheck(window time.Duration) Check {
	return func(context.Context) string {
		s := l.Uploads()
		switch {
		case s.Limit == 0:
			return ""
		case s.InFlight >= s.Limit:
			return fmt.Sprintf("saturated: %d/%d uploads in flight", s.InFlight, s.Limit)
		case !s.FullAt.IsZero() && time.Since(s.FullAt) < window:
			return fmt.Sprintf("saturated: %d/%d uploads in flight within the last %s", s.Limit, s.Limit, window)
		}
		return ""
	}
}
