package cli

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// requireAdmin skips the test while the server does not serve
// AdminService.
func requireAdmin(t *testing.T, s *testServer) {
	t.Helper()
	_, err := s.admin.ListDeadLetters(context.Background(), &pb.ListDeadLettersRequest{MaxMessages: 1})
	if status.Code(err) == codes.Unimplemented {
		t.Skip("the server does not serve AdminService yet")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// deadLetters lists the dead-letter queue through the command line until
// it holds n jobs.
func deadLetters(t *testing.T, n int) *pb.ListDeadLettersResponse {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, stdout, stderr := runCLI(t, "dlq", "ls", "-json")
		if code != 0 {
			t.Fatalf("dlq ls -json: exit %d; stderr:\n%s", code, stderr)
		}
		resp := &pb.ListDeadLettersResponse{}
		if err := protojson.Unmarshal([]byte(stdout), resp); err != nil {
			t.Fatalf("dlq ls -json: %v\n%s", err, stdout)
		}
		if len(resp.GetDeadLetters()) == n {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead-letter queue holds %d jobs, want %d", len(resp.GetDeadLetters()), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Two jobs that fail every attempt end in the dead-letter queue: dlq ls
// lists them with their FAILED images, purge deletes one by id (a second
// time it is not found), purge -all wants -yes, redrive -all sends the
// other's image back to processing, which now succeeds; retry sends the
// purged one's FAILED image back too.
func TestDeadLetters(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	fault := func(context.Context, string) error {
		if broken.Load() {
			return errors.New("simulated: broken")
		}
		return nil
	}
	s := startServer(t, apptest.FailVariants(fault))
	requireAdmin(t, s)
	files := writePNGs(t, t.TempDir(), 2)
	ids := uploadFiles(t, "-batch", "dl", files[0], files[1])
	dl := deadLetters(t, 2)
	msgOf := map[string]string{} // image id -> message id
	for _, d := range dl.GetDeadLetters() {
		msgOf[d.GetImageId()] = d.GetMessageId()
		if d.GetImage().GetState() != pb.ImageState_IMAGE_STATE_FAILED || d.GetImage().GetError().GetCode() != "processing_failed" {
			t.Errorf("dead letter %s: image %v", d.GetMessageId(), d.GetImage())
		}
	}
	if msgOf[ids[0]] == "" || msgOf[ids[1]] == "" || dl.GetApproximateCount() != 2 {
		t.Fatalf("dead letters %v, want the jobs of %v", dl, ids)
	}

	code, stdout, stderr := runCLI(t, "dlq", "ls")
	if code != 0 {
		t.Fatalf("dlq ls: exit %d; stderr:\n%s", code, stderr)
	}
	for _, id := range ids {
		if !strings.Contains(stdout, msgOf[id]+"  "+id+"  ") {
			t.Errorf("dlq ls lacks the row of %s:\n%s", id, stdout)
		}
	}
	if !strings.Contains(stdout, "FAILED  processing_failed") || !strings.Contains(stdout, "2 listed; about 2 dead-lettered jobs") {
		t.Errorf("dlq ls:\n%s", stdout)
	}

	code, stdout, stderr = runCLI(t, "dlq", "purge", msgOf[ids[0]])
	if code != 0 || !strings.Contains(stdout, "purged "+msgOf[ids[0]]) || !strings.Contains(stdout, "1 job deleted") {
		t.Errorf("dlq purge: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "dlq", "purge", msgOf[ids[0]])
	if code != 1 || !strings.Contains(stderr, `imagepipe: dead letter "`+msgOf[ids[0]]+`" not found`) {
		t.Errorf("dlq purge again: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ = runCLI(t, "dlq", "purge", "-all"); code != 2 {
		t.Errorf("dlq purge -all without -yes: exit %d, want 2", code)
	}

	broken.Store(false)
	code, stdout, stderr = runCLI(t, "dlq", "redrive", "-all")
	if code != 0 || !strings.Contains(stdout, "retrying image "+ids[1]) || !strings.Contains(stdout, "1 job moved back to the job queue, 1 FAILED image sent back to processing") {
		t.Errorf("dlq redrive -all: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ = runCLI(t, "watch", ids[1]); code != 0 {
		t.Errorf("the redriven image: exit %d\n%s", code, stdout)
	}
	deadLetters(t, 0)

	code, stdout, stderr = runCLI(t, "retry", ids[0], "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577")
	if code != 1 || !strings.Contains(stdout, ids[0]+"  QUEUED") || !strings.Contains(stdout, "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577  -       skipped (not found)") ||
		!strings.Contains(stdout, "1 image sent back to processing, 1 skipped") {
		t.Errorf("retry: exit %d (want 1: one not found)\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ = runCLI(t, "watch", ids[0]); code != 0 {
		t.Errorf("the retried image: exit %d\n%s", code, stdout)
	}
	if img := s.image(t, ids[0]); img.GetRetries() != 1 {
		t.Errorf("retried image: retries %d, want 1", img.GetRetries())
	}
	code, stdout, _ = runCLI(t, "retry", "-batch", "dl") // nothing FAILED any more
	if code != 0 || !strings.Contains(stdout, "0 images sent back to processing, 0 skipped") {
		t.Errorf("retry -batch: exit %d\n%s", code, stdout)
	}
}
