//go:build race

package e2e_test

// raceEnabled: the race detector is on, and with it the servers' memory
// several times larger.
const raceEnabled = true

// concurrentUploadsBound is TestAbuse's bound on the server's memory
// during 300 concurrent uploads (64 let in at once), in MiB beyond its
// memory before them. With the race detector it measured +380 to +730
// MiB on 2 cores (its shadow memory, and a garbage collector that falls
// behind): 1 GiB holds that with room. The bound that says more is the
// one without the race detector (norace_test.go).
const concurrentUploadsBound = 1024
