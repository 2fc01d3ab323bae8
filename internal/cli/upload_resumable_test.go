package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// TestUploadResumable: a file over -resumable-threshold goes as a
// resumable upload; its write is cut twice mid-way, as a dropped
// connection would, and the command resumes each time from the offset the
// server holds (not from the start): the image is the file. A file under the threshold goes as before.
func TestUploadResumable(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	big := imagetest.Fixture(t, "coffee.png")
	bigPath := filepath.Join(dir, "coffee.png")
	if err := os.WriteFile(bigPath, big, 0o644); err != nil {
		t.Fatal(err)
	}
	small := writePNGs(t, dir, 1)[0]
	var cuts atomic.Int64
	var mu sync.Mutex
	var starts []int64 // the offset each write started at
	lastOffset, lastSent := int64(-1), int64(0)
	testCutWrite = func(file string, offset, sent int64) error {
		if file != bigPath {
			t.Errorf("small file %s sent as a resumable upload", file)
		}
		mu.Lock()
		if offset != lastOffset || sent < lastSent { // a new write
			starts = append(starts, offset)
		}
		lastOffset, lastSent = offset, sent
		mu.Unlock()
		if sent >= int64(len(big))/3 && cuts.Load() < 2 {
			// Cut once the server has kept some of this write (sent bytes
			// may still be in flight), so that the next write must start
			// past this one's offset.
			waitPartialPast(t, s, offset)
			cuts.Add(1)
			return errors.New("connection dropped")
		}
		return nil
	}
	t.Cleanup(func() { testCutWrite = nil })
	threshold := len(big) - 1
	if fi, err := os.Stat(small); err != nil || fi.Size() > int64(threshold) {
		t.Fatalf("small file: %v %v", fi, err)
	}
	code, stdout, stderr := runCLI(t, "upload", "-json", "-wait", "-batch", "big", "-resumable-threshold", strconv.Itoa(threshold), bigPath, small)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := parseReport(t, stdout).byFile()
	if cuts.Load() != 2 {
		t.Errorf("writes cut: %d, want 2", cuts.Load())
	}
	// Each write after a cut starts where the server's offset then was,
	// past the last write's start (the cut came after the server kept
	// some of it).
	resumed := len(starts) == 3 && starts[0] == 0
	for i := 1; resumed && i < len(starts); i++ {
		resumed = starts[i] > starts[i-1]
	}
	if !resumed {
		t.Errorf("writes started at %v, want 0 and then two at the server's later offsets", starts)
	}
	r := rep[bigPath]
	if r == nil || r.State != pb.ImageState_IMAGE_STATE_READY.String() {
		t.Fatalf("resumable upload: %+v", r)
	}
	got, err := s.status.GetImage(t.Context(), &pb.GetImageRequest{Id: r.ImageID})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(big)
	if o := got.GetImage().GetOriginal(); o.GetSha256() != hex.EncodeToString(sum[:]) || o.GetBytes() != int64(len(big)) || o.GetFileName() != "coffee.png" {
		t.Errorf("original %+v, want the file's SHA-256 %x", o, sum)
	}
	if r := rep[small]; r == nil || r.ImageID == "" {
		t.Errorf("small file: %+v", r)
	}
	// Again: the file's idempotency key finds the image; nothing is sent.
	code, stdout, _ = runCLI(t, "upload", "-json", "-batch", "big", "-resumable-threshold", strconv.Itoa(threshold), bigPath)
	if again := parseReport(t, stdout).byFile()[bigPath]; code != 0 || again == nil || !again.Skipped || again.ImageID != r.ImageID {
		t.Errorf("second run: exit %d %+v", code, again)
	}
}

// A file that shrinks while it is uploaded fails, naming it, at the first
// write that makes no progress (before, writes repeated until the tenant's
// rate limit refused them: ~100 empty writes in 0.26 s).
func TestUploadResumableFileShrinks(t *testing.T) {
	startServer(t)
	dir := t.TempDir()
	big := imagetest.Fixture(t, "coffee.png")
	path := filepath.Join(dir, "coffee.png")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	testCutWrite = func(file string, offset, sent int64) error {
		once.Do(func() {
			if err := os.Truncate(path, int64(len(big))/2); err != nil {
				t.Error(err)
			}
		})
		return nil
	}
	t.Cleanup(func() { testCutWrite = nil })
	code, stdout, stderr := runCLI(t, "upload", "-json", "-resumable-threshold", "1000", path)
	if code == 0 || !strings.Contains(stdout+stderr, "changed while being uploaded") {
		t.Errorf("exit %d\n%s\n%s\nwant a failure saying the file changed", code, stdout, stderr)
	}
}

// waitPartialPast waits until the server's file store holds more than
// offset bytes of the one resumable upload in progress.
func waitPartialPast(t *testing.T, s *testServer, offset int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		parts, _ := filepath.Glob(filepath.Join(s.cfg.DataDir, "originals", "partials", "*.part"))
		for _, p := range parts {
			if fi, err := os.Stat(p); err == nil && fi.Size() > offset {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("the server kept nothing past offset %d in 10 s", offset)
}
