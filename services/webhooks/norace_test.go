//go:build !race

package webhooks_test

// raceEnabled: the race detector slows the pure-Go SQLite about tenfold.
const raceEnabled = false
