package ingest_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/ingest"
	"google.golang.org/grpc/codes"
)

func withIdleTimeout(d time.Duration) func(*options) {
	return func(o *options) { o.cfg.IdleTimeout = d }
}

// An upload that stops sending fails with DEADLINE_EXCEEDED after the idle
// timeout, naming the message it waited for, and keeps nothing: no
// original (not even a temporary file), no job, no record. The goroutine
// that waited for the message ends with the call.
func TestUploadThatStopsSendingTimesOut(t *testing.T) {
	const idle = 200 * time.Millisecond
	jpeg := imagetest.Fixture(t, "grey.jpg")
	tests := []struct {
		name  string
		ms    func(md *pb.UploadMetadata) []*pb.UploadRequest
		field string
		// writing: the original is being written when the client stalls.
		writing bool
	}{
		{"BeforeMetadata", func(*pb.UploadMetadata) []*pb.UploadRequest { return nil }, "metadata", false},
		{"AfterMetadata", func(md *pb.UploadMetadata) []*pb.UploadRequest {
			return []*pb.UploadRequest{metadataMsg(md)}
		}, "chunk", false},
		// Less than the sniffed header: nothing is stored yet.
		{"WithinTheHeader", func(md *pb.UploadMetadata) []*pb.UploadRequest {
			return []*pb.UploadRequest{metadataMsg(md), chunkMsg(jpeg[:5])}
		}, "chunk", false},
		// Past the header: the original is being written.
		{"WithinTheBody", func(md *pb.UploadMetadata) []*pb.UploadRequest {
			return []*pb.UploadRequest{metadataMsg(md), chunkMsg(jpeg[:len(jpeg)/2])}
		}, "chunk", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, withIdleTimeout(idle))
			md := &pb.UploadMetadata{FileName: "grey.jpg", BatchId: "stalled", IdempotencyKey: "stalled-key"}
			stream, err := r.client.Upload(r.ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.ms(md) {
				if err := stream.Send(m); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			start := time.Now()
			if tc.writing {
				for r.objects(t) == 0 {
					if time.Since(start) > idle/2 {
						t.Fatal("no temporary file in the originals store: the test does not stall a write")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			// Wait for the answer without closing the stream: a stalled client.
			err = stream.RecvMsg(new(pb.UploadResponse))
			elapsed := time.Since(start)
			wantError(t, err, codes.DeadlineExceeded, ingest.ReasonUploadIdle, tc.field)
			if elapsed < idle*3/4 || elapsed > idle+5*time.Second {
				t.Errorf("answered after %s, want about the idle timeout %s", elapsed, idle)
			}
			r.wantNothingKept(t, md)
			waitNoGoroutine(t, "ingest.(*chunkReader).recv")
		})
	}
}

// A slow upload that keeps sending (a chunk every half idle timeout) is
// not cut off, however long it takes in all.
func TestSlowUploadThatKeepsSendingCompletes(t *testing.T) {
	const idle = 200 * time.Millisecond
	r := newRig(t, withIdleTimeout(idle))
	jpeg := imagetest.Fixture(t, "grey.jpg")
	md := &pb.UploadMetadata{FileName: "grey.jpg"}
	stream, err := r.client.Upload(r.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(metadataMsg(md)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const parts = 6
	for i := range parts {
		time.Sleep(idle / 2)
		part := jpeg[i*len(jpeg)/parts : (i+1)*len(jpeg)/parts]
		if err := stream.Send(chunkMsg(part)); err != nil {
			t.Fatalf("Send chunk %d: %v", i, err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if took := time.Since(start); took < 2*idle {
		t.Fatalf("the upload took %s, want longer than the idle timeout to prove anything", took)
	}
	img := resp.GetImage()
	if got := img.GetOriginal().GetSha256(); got != sha(jpeg) {
		t.Errorf("sha256 %s, want %s", got, sha(jpeg))
	}
	if b, _ := r.stored(t, img.GetId()); string(b) != string(jpeg) {
		t.Errorf("stored %d bytes, want the %d uploaded", len(b), len(jpeg))
	}
}

// waitNoGoroutine waits up to 5 s for no goroutine to be running fn.
func waitNoGoroutine(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); ; {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), fn) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine still runs %s:\n%s", fn, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
