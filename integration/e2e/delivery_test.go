package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/faultblob"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// variantFiles counts the stored variant objects of an image (fsblob layout).
func variantFiles(t *testing.T, dataDir, id string) int {
	t.Helper()
	return countFiles(t, filepath.Join(dataDir, "variants", "objects", id+".d"))
}

// A transient failure is retried through redelivery; the image ends READY
// once, with one set of variants.
func TestTransientFailureIsRetried(t *testing.T) {
	fault := faultblob.FirstPerImage(errors.New("simulated: variants bucket unreachable"))
	cfg := testConfig(t.TempDir())
	s := start(t, cfg, apptest.FailVariants(fault))
	r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	img := r.image(t)
	if img.GetState() != pb.ImageState_IMAGE_STATE_READY || img.GetAttempts() != 2 || img.GetError() != nil {
		t.Fatalf("%s after %d attempts (error %v), want READY after 2 with no error", img.GetState(), img.GetAttempts(), img.GetError())
	}
	if n := variantFiles(t, cfg.DataDir, img.GetId()); n != 3 {
		t.Errorf("%d variant files, want 3", n)
	}
}

// A process dies (SIGKILL) mid-job; a new process on the same stores picks
// the job up after the visibility timeout and finishes it, once.
func TestProcessorKilledMidJob(t *testing.T) {
	dir := t.TempDir()
	proc := spawn(t, dir, "first", "stall")
	first := &server{apptest.Remote("http://"+proc.http, apptest.ReadToken(dir))}
	r := first.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	id := r.image(t).GetId()
	stalled, err := waitForFile(filepath.Join(dir, "stalled"), 20*time.Second, nil)
	if err != nil || string(stalled) != id {
		t.Fatalf("stalled on %q (%v), uploaded %s", stalled, err, id)
	}
	proc.kill()

	second := start(t, testConfig(dir))
	img := second.waitTerminal(t, id, 30*time.Second)
	if img.GetState() != pb.ImageState_IMAGE_STATE_READY || img.GetAttempts() != 2 {
		t.Fatalf("%s after %d attempts (%v), want READY after 2", img.GetState(), img.GetAttempts(), img.GetError())
	}
	if n := variantFiles(t, dir, id); n != 3 {
		t.Errorf("%d variant files, want 3", n)
	}
	// A duplicate delivery of the finished job changes nothing.
	q, err := queue.Open(context.Background(), "sqlite://"+filepath.Join(dir, "queue.db")+"?name=jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Send(context.Background(), jobs.Job{ImageID: id}.Encode(), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	again := second.get(t, "/v1/images/"+id).image(t)
	if again.GetState() != pb.ImageState_IMAGE_STATE_READY || again.GetAttempts() != 2 || !again.GetUpdateTime().AsTime().Equal(img.GetUpdateTime().AsTime()) {
		t.Errorf("after a duplicate message: %s, %d attempts, updated %v (was %v)", again.GetState(), again.GetAttempts(),
			again.GetUpdateTime().AsTime(), img.GetUpdateTime().AsTime())
	}
	if st, err := q.Stats(context.Background()); err != nil || st.Visible+st.InFlight+st.Delayed != 0 {
		t.Errorf("queue after the duplicate: %+v %v, want empty", st, err)
	}
}

// A job that fails every attempt ends in the dead-letter queue with its
// image FAILED.
func TestPoisonJobGoesToDeadLetterQueue(t *testing.T) {
	cfg := testConfig(t.TempDir())
	always := func(context.Context, string) error { return errors.New("simulated: always broken") }
	s := start(t, cfg, apptest.FailVariants(always))
	r := s.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	id := r.image(t).GetId()
	img := s.waitTerminal(t, id, 60*time.Second)
	if img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "processing_failed" || img.GetAttempts() != 3 {
		t.Fatalf("%s after %d attempts (%v), want FAILED processing_failed after 3", img.GetState(), img.GetAttempts(), img.GetError())
	}
	dlq, err := queue.Open(context.Background(), "sqlite://"+filepath.Join(cfg.DataDir, "queue.db")+"?name=jobs-dlq&max_receive=0")
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	msgs, err := dlq.Receive(context.Background(), queue.ReceiveOptions{WaitTime: 10 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead-letter queue: %d messages, %v", len(msgs), err)
	}
	if job, err := jobs.Decode(msgs[0].Body); err != nil || job.ImageID != id {
		t.Errorf("dead letter %q, want the job of %s", msgs[0].Body, id)
	}
	if n := variantFiles(t, cfg.DataDir, id); n != 0 {
		t.Errorf("%d variant files for a failed image", n)
	}
}

// The four targets as separate servers talking gRPC, sharing the stores.
func TestSplitTargets(t *testing.T) {
	dir := t.TempDir()
	cfgFor := func(target string) app.Config {
		c := testConfig(dir)
		c.Target = target
		return c
	}
	status := start(t, cfgFor(app.TargetStatus))
	ingest := start(t, cfgFor(app.TargetIngest))
	proc := start(t, cfgFor(app.TargetProcessor))
	gw := cfgFor(app.TargetGateway)
	gw.StatusAddr, gw.IngestAddr, gw.ProcessorAddr = status.App.GRPCAddr(), ingest.App.GRPCAddr(), proc.App.GRPCAddr()
	s := start(t, gw)
	if s.App.GRPCAddr() != "" || status.App.HTTPAddr() != "" {
		t.Errorf("gateway serves gRPC (%q) or status serves HTTP (%q)", s.App.GRPCAddr(), status.App.HTTPAddr())
	}
	src := imagetest.Fixture(t, "dandelion.jpg")
	info := imagetest.Decode(t, src)
	r := s.post(t, "/v1/images?wait=30s", "image/jpeg", bytes.NewReader(src))
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	checkVariants(t, s, r.image(t), src, info.Width, info.Height)
	if p := s.get(t, "/v1/presets"); p.code != http.StatusOK || !bytes.Contains(p.body, []byte(`"default"`)) {
		t.Errorf("GET /v1/presets: %d %s", p.code, p.body)
	}
	// With the status service down the gateway answers 503, not internals.
	status.Kill()
	r = s.get(t, "/v1/images/"+r.image(t).GetId())
	if r.code != http.StatusServiceUnavailable || bytes.Contains(r.body, []byte(status.App.GRPCAddr())) {
		t.Errorf("status down: %d %s", r.code, r.body)
	}
	if h := s.get(t, "/healthz"); h.code != http.StatusServiceUnavailable {
		t.Errorf("healthz with status down: %d %s", h.code, h.body)
	}
}
