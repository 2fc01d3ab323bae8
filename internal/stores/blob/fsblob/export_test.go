package fsblob

// WaitCleanedUp waits until the start-up sweep of s has finished.
func WaitCleanedUp(s *Store) { <-s.cleaned }
