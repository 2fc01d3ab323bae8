package webhooks

import "time"

// SetClock makes s read the time from now, for cache expiry tests.
func SetClock(s *Secrets, now func() time.Time) { s.now = now }
