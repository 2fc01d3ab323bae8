package cli

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// setUploadHooks installs the upload test hooks until the test ends.
func setUploadHooks(t *testing.T, before func(ctx context.Context, file string), after func(file string)) {
	testBeforeSend, testAfterUpload = before, after
	t.Cleanup(func() { testBeforeSend, testAfterUpload = nil, nil })
}

// An upload of 12 files interrupted by SIGINT after 6 completed uploads
// exits 130 with a summary; the same command again skips exactly those 6
// and uploads the other 6, so the batch and the originals store hold 12
// images, none twice.
func TestUploadInterruptedThenResumed(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	files := writePNGs(t, dir, 12)
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Deterministic interruption: the 7th upload and later ones wait for
	// the interrupt before sending anything, and the 6th completed upload
	// sends SIGINT to this process, as a terminal's Ctrl-C would.
	const done = 6
	var started, completed atomic.Int32
	setUploadHooks(t,
		func(ctx context.Context, _ string) {
			if started.Add(1) > done {
				<-ctx.Done()
			}
		},
		func(string) {
			if completed.Add(1) == done {
				if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
					t.Error(err)
				}
			}
		})
	code, stdout, stderr := runCLI(t, "upload", "-batch", "holiday", "-concurrency", "2", "-json", dir)
	if code != exitInterrupted {
		t.Fatalf("interrupted run: exit %d, want %d; stderr:\n%s", code, exitInterrupted, stderr)
	}
	first := parseReport(t, stdout)
	if c := first.Counts; !first.Interrupted || c.Files != 12 || c.Uploaded != done || c.Canceled != 12-done || c.Skipped != 0 || c.UploadFailed != 0 {
		t.Fatalf("interrupted run: %+v interrupted=%v", c, first.Interrupted)
	}
	for _, want := range []string{"skipping " + filepath.Join(dir, "notes.txt") + ": not an image file", "imagepipe: interrupted", "6 files not uploaded"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("interrupted run: stderr lacks %q:\n%s", want, stderr)
		}
	}
	uploaded := map[string]string{} // file -> image id
	for _, r := range first.Images {
		switch r.State {
		case stateCanceled:
			if r.ImageID != "" || r.Error.GetCode() != "canceled" {
				t.Errorf("canceled %s: %+v", r.File, r)
			}
		default:
			if r.ImageID == "" || r.Skipped {
				t.Errorf("uploaded %s: %+v", r.File, r)
			}
			uploaded[r.File] = r.ImageID
		}
	}
	if len(uploaded) != done {
		t.Fatalf("%d files uploaded, want %d", len(uploaded), done)
	}
	if n := s.originals(t); n != done {
		t.Errorf("originals store holds %d originals after the interrupted run, want %d", n, done)
	}

	// The rerun, without hooks.
	setUploadHooks(t, nil, nil)
	code, stdout, stderr = runCLI(t, "upload", "-batch", "holiday", "-concurrency", "2", "-json", dir)
	if code != 0 {
		t.Fatalf("rerun: exit %d; stderr:\n%s", code, stderr)
	}
	second := parseReport(t, stdout)
	if c := second.Counts; second.Interrupted || c.Files != 12 || c.Skipped != done || c.Uploaded != 12-done || c.Canceled != 0 {
		t.Fatalf("rerun: %+v", c)
	}
	ids := map[string]bool{}
	for _, f := range files {
		r := second.byFile()[f]
		if r == nil {
			t.Fatalf("rerun: no result for %s", f)
		}
		if id, was := uploaded[f]; r.Skipped != was || (was && r.ImageID != id) {
			t.Errorf("rerun %s: skipped=%v id %s; uploaded before: %v (id %s)", f, r.Skipped, r.ImageID, was, id)
		}
		ids[r.ImageID] = true
	}
	if len(ids) != 12 {
		t.Errorf("%d distinct image ids, want 12", len(ids))
	}
	b := s.batch(t, "holiday")
	if b.GetTotal() != 12 || b.GetExpected() != 12 {
		t.Errorf("batch: total %d, expected %d; want 12 and 12", b.GetTotal(), b.GetExpected())
	}
	if n := s.originals(t); n != 12 {
		t.Errorf("originals store holds %d originals, want 12", n)
	}

	// A third run waits for processing; everything is skipped and READY,
	// shown as a table.
	code, stdout, stderr = runCLI(t, "upload", "-batch", "holiday", "-wait", dir)
	if code != 0 {
		t.Fatalf("third run: exit %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 14 || !strings.HasPrefix(lines[0], "FILE") || !strings.Contains(lines[0], "IMAGE ID") {
		t.Fatalf("third run: want a header, 12 rows and a summary:\n%s", stdout)
	}
	for _, l := range lines[1:13] {
		if !strings.Contains(l, " READY ") || !strings.Contains(l, "skipped (already uploaded); 3 variants") {
			t.Errorf("third run row: %q", l)
		}
	}
	if want := "12 files: 0 uploaded, 12 skipped, 0 upload errors; 12 ready, 0 failed; batch holiday"; lines[13] != want {
		t.Errorf("summary %q, want %q", lines[13], want)
	}
	if n := s.originals(t); n != 12 {
		t.Errorf("originals store holds %d originals after the third run, want 12", n)
	}
}

// A file that is not an image is refused at upload with its error code, a
// truncated JPEG is accepted and FAILED as corrupt, the good file is READY;
// the exit status says something failed. The rerun reports the FAILED
// image without uploading it again and points at imagepipe retry.
func TestUploadBadFiles(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	noise := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	garbage := filepath.Join(dir, "x.jpg")
	good := imagetest.Fixture(t, "coffee.png")
	dandelion := imagetest.Fixture(t, "dandelion.jpg")
	truncated := filepath.Join(dir, "truncated.jpg")
	goodPath := filepath.Join(dir, "coffee.png")
	for p, data := range map[string][]byte{garbage: noise, truncated: dandelion[:len(dandelion)/3], goodPath: good} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCLI(t, "upload", "-batch", "bad", "-wait", garbage, truncated, goodPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(stdout, "\n") {
		if f, _, ok := strings.Cut(l, " "); ok {
			rows[f] = l
		}
	}
	for file, want := range map[string][]string{
		garbage:   {" UPLOAD_FAILED ", "unsupported_format"},
		truncated: {" FAILED ", "corrupt"},
		goodPath:  {" READY ", "3 variants"},
	} {
		for _, w := range want {
			if !strings.Contains(rows[file], w) {
				t.Errorf("row of %s lacks %q: %q", file, w, rows[file])
			}
		}
	}
	if !strings.Contains(stdout, "3 files: 2 uploaded, 0 skipped, 1 upload errors; 1 ready, 1 failed; batch bad") {
		t.Errorf("summary:\n%s", stdout)
	}
	if !strings.Contains(stderr, "imagepipe: "+garbage+": ") {
		t.Errorf("stderr lacks the server's message for %s:\n%s", garbage, stderr)
	}

	// Again, as JSON: nothing is uploaded twice, the FAILED image is
	// reported as failed earlier, with the retry hint.
	code, stdout, stderr = runCLI(t, "upload", "-batch", "bad", "-json", garbage, truncated, goodPath)
	if code != 1 {
		t.Fatalf("rerun: exit %d, want 1; stderr:\n%s", code, stderr)
	}
	rep := parseReport(t, stdout).byFile()
	if r := rep[truncated]; !r.Skipped || r.State != pb.ImageState_IMAGE_STATE_FAILED.String() || r.Error.GetCode() != "corrupt" {
		t.Errorf("truncated on rerun: %+v", r)
	}
	if r := rep[garbage]; r.Skipped || r.State != stateUploadFailed || r.Error.GetCode() != "unsupported_format" || r.Error.Message == "" {
		t.Errorf("garbage on rerun: %+v", r)
	}
	if r := rep[goodPath]; !r.Skipped || r.State != pb.ImageState_IMAGE_STATE_READY.String() || r.Error != nil {
		t.Errorf("good on rerun: %+v", r)
	}
	if !strings.Contains(stderr, "imagepipe retry -batch bad") {
		t.Errorf("stderr lacks the retry hint:\n%s", stderr)
	}
	if n := s.originals(t); n != 2 {
		t.Errorf("originals store holds %d originals, want 2", n)
	}
}

// GetCode lets tests read a result's error code whether or not it is set.
func (e *resultError) GetCode() string {
	if e == nil {
		return ""
	}
	return e.Code
}

// One file uploads without a batch; two or more get a batch made up and
// printed; identical files in one run upload once, and batch_size counts
// distinct contents, so that the batch can complete.
func TestUploadBatchID(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	files := writePNGs(t, dir, 2)
	code, stdout, stderr := runCLI(t, "upload", "-json", files[0])
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	one := parseReport(t, stdout)
	if one.BatchID != "" || len(one.Images) != 1 || s.image(t, one.Images[0].ImageID).GetBatchId() != "" {
		t.Errorf("single file: batch %q, %+v", one.BatchID, one.Images)
	}

	copyPath := filepath.Join(t.TempDir(), "copy.png")
	data, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "upload", "-json", "-concurrency", "1", files[0], files[1], copyPath)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	rep := parseReport(t, stdout)
	if !strings.HasPrefix(rep.BatchID, "cli-") || !strings.Contains(stderr, "batch "+rep.BatchID+" (to resume an interrupted upload, rerun with -batch "+rep.BatchID+")") {
		t.Fatalf("batch %q; stderr:\n%s", rep.BatchID, stderr)
	}
	byFile := rep.byFile()
	if d := byFile[copyPath]; !d.Skipped || d.ImageID != byFile[files[1]].ImageID {
		t.Errorf("identical file: %+v, want skipped with the image of %s (%s)", d, files[1], byFile[files[1]].ImageID)
	}
	if c := rep.Counts; c.Uploaded != 2 || c.Skipped != 1 {
		t.Errorf("counts %+v", c)
	}
	b := s.batch(t, rep.BatchID)
	if b.GetTotal() != 2 || b.GetExpected() != 2 { // distinct contents
		t.Errorf("batch: total %d, expected %d", b.GetTotal(), b.GetExpected())
	}
	if img := s.image(t, byFile[files[0]].ImageID); img.GetBatchSize() != 2 || img.GetOriginal().GetFileName() != filepath.Base(files[0]) {
		t.Errorf("image: batch_size %d, file name %q", img.GetBatchSize(), img.GetOriginal().GetFileName())
	}
}

// The idempotency key is fixed by batch, preset, visibility and content;
// a public upload's key is the one from before visibility existed.
func TestIdempotencyKey(t *testing.T) {
	k := idempotencyKey("b", "default", false, "abc")
	if len(k) != 52 || !strings.HasPrefix(k, "cli-") {
		t.Fatalf("key %q", k)
	}
	if k != "cli-1e52d74a308f96ec540c9aff18e24c26ea7ca6990f52c4cc" {
		t.Errorf("public key changed: %q", k)
	}
	for _, other := range []string{idempotencyKey("b2", "default", false, "abc"), idempotencyKey("b", "avatar", false, "abc"),
		idempotencyKey("b", "default", false, "abd"), idempotencyKey("", "bdefault", false, "abc"), idempotencyKey("b", "default", true, "abc")} {
		if other == k {
			t.Errorf("%q collides", other)
		}
	}
	if idempotencyKey("b", "default", false, "abc") != k {
		t.Error("not deterministic")
	}
}
