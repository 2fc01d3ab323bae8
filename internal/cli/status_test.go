package cli

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/protobuf/encoding/protojson"
)

// slowProcessing keeps every image PROCESSING for a while, so that a
// watch sees the transition.
func slowProcessing(ctx context.Context, _ string) error {
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}

// uploadFiles uploads files (without waiting) and returns their image ids.
func uploadFiles(t *testing.T, args ...string) []string {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"upload", "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("upload: exit %d; stderr:\n%s", code, stderr)
	}
	var ids []string
	for _, r := range parseReport(t, stdout).Images {
		ids = append(ids, r.ImageID)
	}
	return ids
}

// watch prints one line per transition and ends READY; -json prints every
// message of the stream as protojson; both as the image and batch forms.
func TestWatch(t *testing.T) {
	startServer(t, apptest.FailVariants(slowProcessing))
	photo := imagetest.FixturePath(t, "grey.jpg")
	id := uploadFiles(t, photo)[0]

	code, stdout, stderr := runCLI(t, "watch", id)
	if code != 0 {
		t.Fatalf("watch: exit %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var states []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != id {
			t.Fatalf("line %q: want time, image id, state", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("line %q: time: %v", l, err)
		}
		if len(states) > 0 && states[len(states)-1] == f[2] {
			t.Errorf("state %s printed twice in a row:\n%s", f[2], stdout)
		}
		states = append(states, f[2])
	}
	if states[len(states)-1] != "READY" || len(states) < 2 || states[len(states)-2] != "PROCESSING" {
		t.Errorf("states %v: want ... PROCESSING READY", states)
	}

	// -json on a READY image: its one message, a WatchImageResponse.
	code, stdout, stderr = runCLI(t, "watch", "-json", id)
	if code != 0 {
		t.Fatalf("watch -json: exit %d; stderr:\n%s", code, stderr)
	}
	var resp pb.WatchImageResponse
	if err := protojson.Unmarshal([]byte(stdout), &resp); err != nil || resp.GetImage().GetId() != id || resp.GetImage().GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Errorf("watch -json: %v %v\n%s", err, resp.GetImage().GetState(), stdout)
	}

	// A batch: its summary, each image's transitions, the final state.
	dir := t.TempDir()
	files := writePNGs(t, dir, 2)
	ids := uploadFiles(t, "-batch", "w", files[0], files[1])
	code, stdout, stderr = runCLI(t, "watch", "-json", "w")
	if code != 0 {
		t.Fatalf("watch -json batch: exit %d; stderr:\n%s", code, stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	var msgs []*pb.WatchBatchResponse
	for sc.Scan() {
		m := &pb.WatchBatchResponse{}
		if err := protojson.Unmarshal(sc.Bytes(), m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) < 2 || msgs[0].GetImage() != nil || msgs[0].GetBatch().GetId() != "w" {
		t.Fatalf("watch -json batch: %d messages, first %v", len(msgs), msgs[0])
	}
	last := msgs[len(msgs)-1]
	if last.GetBatch().GetState() != pb.BatchState_BATCH_STATE_READY || last.GetBatch().GetTotal() != 2 {
		t.Errorf("last message: %v", last)
	}
	readyIDs := map[string]bool{}
	for _, m := range msgs[1:] {
		if m.GetImage().GetState() == pb.ImageState_IMAGE_STATE_READY {
			readyIDs[m.GetImage().GetId()] = true
		}
	}
	if len(readyIDs) != 2 || !readyIDs[ids[0]] || !readyIDs[ids[1]] {
		t.Errorf("READY images seen: %v, want %v", readyIDs, ids)
	}
	code, stdout, _ = runCLI(t, "watch", "w") // complete: summary and final line
	if code != 0 || !strings.Contains(stdout, "batch w READY: 2 images (READY 2)") {
		t.Errorf("watch batch: exit %d\n%s", code, stdout)
	}

	// A FAILED image exits 1 and shows its error code.
	truncated := filepath.Join(dir, "truncated.jpg")
	data := imagetest.Fixture(t, "dandelion.jpg")
	if err := os.WriteFile(truncated, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	bad := uploadFiles(t, truncated)[0]
	code, stdout, _ = runCLI(t, "watch", bad)
	if code != 1 || !strings.HasSuffix(strings.TrimSpace(stdout), "FAILED      corrupt") {
		t.Errorf("watch of a FAILED image: exit %d\n%s", code, stdout)
	}
}

// status prints an image or a batch, as a table or as protojson that
// parses back into the record the server has.
func TestStatus(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	files := writePNGs(t, dir, 2)
	truncated := filepath.Join(dir, "truncated.jpg")
	data := imagetest.Fixture(t, "dandelion.jpg")
	if err := os.WriteFile(truncated, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "upload", "-batch", "st", "-wait", "-json", files[0], files[1], truncated)
	if code != 1 {
		t.Fatalf("upload: exit %d, want 1 (one FAILED); stderr:\n%s", code, stderr)
	}
	rep := parseReport(t, stdout).byFile()
	ready, failed := rep[files[0]].ImageID, rep[truncated].ImageID

	code, stdout, stderr = runCLI(t, "status", ready)
	if code != 0 {
		t.Fatalf("status: exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"Image:     " + ready, "State:     READY", "Batch:     st", "Original:  PNG, ", ", 200x150", "VARIANT  FORMAT", "thumb    PNG     64x64", "/a/" + ready + "/medium"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status of an image lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = runCLI(t, "status", failed)
	if code != 0 || !strings.Contains(stdout, "State:     FAILED") || !strings.Contains(stdout, "Error:     corrupt: ") {
		t.Errorf("status of a FAILED image: exit %d\n%s", code, stdout)
	}

	// -json round trip: the same record as GetImage.
	code, stdout, _ = runCLI(t, "status", "-json", ready)
	var img pb.Image
	if err := protojson.Unmarshal([]byte(stdout), &img); code != 0 || err != nil {
		t.Fatalf("status -json: exit %d, %v\n%s", code, err, stdout)
	}
	if want := s.image(t, ready); img.GetId() != ready || img.GetState() != want.GetState() || len(img.GetVariants()) != 3 ||
		img.GetOriginal().GetSha256() != want.GetOriginal().GetSha256() {
		t.Errorf("status -json: %v", &img)
	}

	code, stdout, _ = runCLI(t, "status", "st")
	for _, want := range []string{"Batch:   st", "State:   PARTIALLY_FAILED", "Images:  3 of 3 expected", "Counts:  READY 2, FAILED 1", "IMAGE ID", failed + "  truncated.jpg  FAILED  corrupt"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("status of a batch: exit %d, lacks %q:\n%s", code, want, stdout)
		}
	}
	code, stdout, _ = runCLI(t, "status", "-json", "st")
	var b pb.Batch
	if err := protojson.Unmarshal([]byte(stdout), &b); code != 0 || err != nil || b.GetId() != "st" || b.GetTotal() != 3 ||
		b.GetCounts()["IMAGE_STATE_READY"] != 2 || len(b.GetImages()) != 3 {
		t.Errorf("status -json batch: exit %d, %v: %v", code, err, &b)
	}

	// Unknown ids: the server's message, exit 1.
	for id, want := range map[string]string{
		"01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577": `imagepipe: image "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577" not found`,
		"nope":                                 `imagepipe: batch "nope" not found`,
	} {
		code, stdout, stderr := runCLI(t, "status", id)
		if code != 1 || stdout != "" || strings.TrimSpace(stderr) != want {
			t.Errorf("status %s: exit %d, stdout %q, stderr %q; want 1 and %q", id, code, stdout, stderr, want)
		}
	}
}

// Usage mistakes exit 2 with a message and the usage; -h exits 0.
func TestClientUsage(t *testing.T) {
	t.Setenv("IMAGEPIPE_ADDR", "127.0.0.1:1") // nothing listens; no usage error may get that far
	photo := imagetest.FixturePath(t, "grey.jpg")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"upload"}, "no files to upload"},
		{[]string{"upload", "-concurrency", "0", photo}, "-concurrency must be 1..64"},
		{[]string{"upload", "-batch", "no spaces", photo}, `-batch "no spaces"`},
		{[]string{"upload", "-frobnicate", photo}, "flag provided but not defined"},
		{[]string{"upload", photo, "-wait=maybe"}, "invalid boolean value"},
		{[]string{"status"}, "missing ID"},
		{[]string{"status", "a", "b"}, "want one ID, got 2 arguments"},
		{[]string{"watch"}, "missing ID"},
		{[]string{"dlq"}, "missing subcommand"},
		{[]string{"dlq", "frob"}, `unknown subcommand "frob"`},
		{[]string{"dlq", "ls", "x"}, "ls takes no arguments"},
		{[]string{"dlq", "ls", "-max", "0"}, "-max must be 1..1000"},
		{[]string{"dlq", "redrive"}, "give message ids or -all"},
		{[]string{"dlq", "redrive", "-all", "m1"}, "not both"},
		{[]string{"dlq", "purge", "-all"}, "add -yes to confirm"},
		{[]string{"retry"}, "give image ids or -batch"},
		{[]string{"retry", "-batch", "b", "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577"}, "not both"},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "usage:") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant 2, %q and the usage", c.args, code, stdout, stderr, c.want)
		}
	}
	for _, args := range [][]string{{"upload", "-h"}, {"status", "-h"}, {"watch", "-h"}, {"dlq", "-h"}, {"dlq", "purge", "-h"}, {"retry", "-h"}} {
		code, _, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stderr, "usage: imagepipe "+args[0]) {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, stderr)
		}
	}
	// Not usage errors: a missing file, an unreachable server.
	if code, _, stderr := runCLI(t, "upload", filepath.Join(t.TempDir(), "missing.jpg")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "status", "-addr", "127.0.0.1:1", "nope"); code != 1 || !strings.HasPrefix(stderr, "imagepipe: ") {
		t.Errorf("unreachable server: exit %d, stderr %q", code, stderr)
	}
}
