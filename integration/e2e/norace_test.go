//go:build !race

package e2e_test

// raceEnabled: the race detector is on, and with it the servers' memory
// several times larger.
const raceEnabled = false

// concurrentUploadsBound is TestAbuse's bound on the server's memory
// during 300 concurrent uploads (64 let in at once), in MiB beyond its
// memory before them. It measured +143 to +186 MiB on 2 cores (the
// garbage of 300 bodies of 140 KB copied through HTTP, gRPC and the file
// store in 2 s, before the collector runs): 256 MiB holds that with 40%
// room, and fails a server that needs that much more per upload. It says
// little about the cap of uploads in flight: with all 300 let in at once
// the peak measured +248 MiB, the garbage being the same.
const concurrentUploadsBound = 256
