// Package capacity_test counts the S3, SQS and DynamoDB requests imagepipe
// sends per uploaded image, per status read and per variant view, on the
// loopback MinIO, fauxqs and dynalite (scripts/servers.sh), and the bytes
// it stores per image: the measured figures docs/CAPACITY.md builds on.
//
// The whole system runs in this process (internal/testkit/apptest) on the
// AWS stores, with the processor's production timings; every AWS client it
// builds sends its requests through a counting transport
// (awsutil.WrapClients). The counts are asserted against bounds, so that a
// change that adds requests per image fails here; with
// IMAGEPIPE_CAPACITY_OUT=FILE the measured tables are written to FILE in
// Markdown.
package capacity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/processor"
)

// OutEnv names the file the measured tables are written to.
const OutEnv = "IMAGEPIPE_CAPACITY_OUT"

// CorpusEnv names a folder of images to upload instead of testdata/photos,
// such as the benchmark corpus (scripts/bench/corpus.sh).
const CorpusEnv = "IMAGEPIPE_CAPACITY_CORPUS"

const (
	// idleFor is how long the idle system is watched: long enough for
	// every worker's long poll (5 s for the processor) and two readiness
	// checks (every 5 s) to come round.
	idleFor = 12 * time.Second
	// quietFor is how long the per-image counts must stay still before a
	// phase is over (the last deletes and webhook deliveries come after
	// READY).
	quietFor = 2 * time.Second
	// views is how many status reads and variant GETs are made.
	views = 20
)

// background are the requests a process sends whether or not it has work:
// long polls that came back empty and the readiness checks (a lookup of a
// key that does not exist in each store, the job queue's statistics). They are reported per second of the idle phase, and left out
// of the per-image counts.
func background(label string) bool {
	return strings.HasSuffix(label, "(empty)") || strings.HasSuffix(label, "(readiness probe)") ||
		strings.HasPrefix(label, "SQS GetQueueAttributes") ||
		// ingest's sweep of expired resumable uploads: one listing per
		// process at start and every IMAGEPIPE_INGEST_RESUMABLE_SWEEP (10 min)
		strings.HasPrefix(label, "S3 ListObjectsV2 originals")
}

// system is the whole of imagepipe on the AWS stores, its requests counted.
type system struct {
	srv     *apptest.Server
	count   *counter
	records records.Store // uncounted: the test's own reads
	hooks   *receiver     // nil with webhooks off
	workers int           // processor workers
	poll    time.Duration // the processor's long-poll wait
}

// receiver is a webhook endpoint that counts the deliveries it gets.
type receiver struct {
	srv *httptest.Server
	n   atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		r.n.Add(1)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// whsecTest is a Standard Webhooks secret ("whsec_" + base64 of 27 bytes).
const whsecTest = "whsec_Y2FwYWNpdHktdGVzdC1zZWNyZXQtMDEyMzQ1Njc4"

// start creates fresh buckets, queues and tables with app.Init, as
// `imagepipe init` does, and runs the all-in-one target on them with every
// AWS request counted from its start. The processor keeps its production
// poll wait and visibility timeout.
func start(t *testing.T, webhooks bool) (*system, counts) {
	t.Helper()
	for _, svc := range []string{"S3", "SQS", "DYNAMODB"} {
		awstest.Config(t, svc) // skips, or fails under IMAGEPIPE_REQUIRE_AWS=1, without servers
	}
	env := map[string]string{
		"IMAGEPIPE_ORIGINALS":        "s3://" + awstest.Name("originals") + "/o",
		"IMAGEPIPE_VARIANTS":         "s3://" + awstest.Name("variants"),
		"IMAGEPIPE_QUEUE":            "sqs://" + awstest.Name("jobs"),
		"IMAGEPIPE_STATUS":           "dynamodb://" + awstest.Name("images"),
		"IMAGEPIPE_ADMIN_KEY":        "capacity-admin-key-" + awstest.Name("k") + "-0123456789abcdef",
		"IMAGEPIPE_URL_SIGNING_KEYS": urlsign.GenerateKey(),
		"IMAGEPIPE_LIMITS_RPS":       "0",
	}
	var hooks *receiver
	if webhooks {
		hooks = newReceiver(t)
		env["IMAGEPIPE_EVENTS"] = "sqs://" + awstest.Name("events")
		env["IMAGEPIPE_WEBHOOK_URLS"] = hooks.srv.URL
		env["IMAGEPIPE_WEBHOOK_SECRETS"] = whsecTest
		env["IMAGEPIPE_WEBHOOK_ALLOW_NETS"] = "127.0.0.0/8"
	}
	cfg := apptest.Config(t.TempDir())
	cfg.LogLevel = "info"
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	prod := processor.DefaultConfig()
	cfg.Processor.PollWait, cfg.Processor.Visibility = prod.PollWait, prod.Visibility
	ctx := context.Background()
	if err := app.Init(ctx, cfg, io.Discard); err != nil {
		t.Fatalf("init: %v", err)
	}
	recs, err := records.Open(ctx, env["IMAGEPIPE_STATUS"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recs.Close() })

	c := newCounter()
	restore := awsutil.WrapClients(c.wrap)
	srv := apptest.Start(t, cfg)
	restore()
	startup := c.snapshot()
	if len(startup) == 0 {
		t.Fatal("no AWS request counted while the system started: the transport hook is not in the drivers' clients")
	}
	return &system{srv: srv, count: c, records: recs, hooks: hooks, workers: cfg.Processor.Workers, poll: cfg.Processor.PollWait}, startup
}

// phase is what one step of the test measured.
type phase struct {
	name    string
	per     int           // what the counts are divided by (images, reads)
	elapsed time.Duration // for the idle phase's rates
	counts  counts
}

// measure runs do, waits until the counts other than background ones
// have stopped moving, and returns what was counted meanwhile.
func (s *system) measure(t *testing.T, name string, per int, do func()) phase {
	t.Helper()
	before := s.count.snapshot()
	began := time.Now()
	do()
	s.quiet(t)
	return phase{name: name, per: per, elapsed: time.Since(began), counts: s.count.snapshot().minus(before)}
}

// quiet waits until no request but background ones has been sent for
// quietFor.
func (s *system) quiet(t *testing.T) {
	t.Helper()
	busy := func() int {
		n := 0
		for k, v := range s.count.snapshot() {
			if !background(k) {
				n += v
			}
		}
		return n
	}
	last, since := busy(), time.Now()
	for deadline := time.Now().Add(time.Minute); time.Since(since) < quietFor; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("requests never stopped")
		}
		if n := busy(); n != last {
			last, since = n, time.Now()
		}
	}
}

// uploaded is an image the test uploaded: its source file and record.
type uploaded struct {
	file string
	img  *pb.Image
}

// upload posts every photo with the default preset and wait (0: answered
// once queued), in batch if batch is not "", one at a time, and waits for
// every image to be READY, reading the records itself (uncounted).
func (s *system) upload(t *testing.T, batch string, wait time.Duration) []uploaded {
	t.Helper()
	files := photos(t)
	ids := make([]string, len(files))
	for i, f := range files {
		q := fmt.Sprintf("preset=default&wait=%s", wait)
		if batch != "" {
			q += fmt.Sprintf("&batch_id=%s&batch_size=%d", batch, len(files))
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, s.srv.Base+"/v1/images?"+q, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := s.srv.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %s: %d %s", f, resp.StatusCode, body)
		}
		var img struct{ ID string }
		if err := json.Unmarshal(body, &img); err != nil || img.ID == "" {
			t.Fatalf("upload %s: answer %s: %v", f, body, err)
		}
		ids[i] = img.ID
	}
	out := make([]uploaded, len(files))
	for i, id := range ids {
		out[i] = uploaded{file: files[i], img: s.waitReady(t, id)}
	}
	if s.hooks != nil {
		s.waitDeliveries(t, len(files))
	}
	return out
}

// waitReady reads the record until it is READY.
func (s *system) waitReady(t *testing.T, id string) *pb.Image {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		rec, err := s.records.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		switch rec.Image.GetState() {
		case pb.ImageState_IMAGE_STATE_READY:
			return rec.Image
		case pb.ImageState_IMAGE_STATE_FAILED:
			t.Fatalf("%s FAILED: %v", id, rec.Image.GetError())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s", id, rec.Image.GetState())
		}
	}
}

// waitDeliveries waits until the webhook endpoint has been told about at
// least n more images (one ready event each) than before.
func (s *system) waitDeliveries(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); s.hooks.n.Load() < int64(n); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook deliveries, want at least %d", s.hooks.n.Load(), n)
		}
	}
}

// photos lists the paths of the images to upload: testdata/photos, or
// the folder CorpusEnv names.
func photos(t *testing.T) []string {
	t.Helper()
	dir := os.Getenv(CorpusEnv)
	if dir == "" {
		dir = imagetest.TestdataPath(t, "photos")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".avif", ".tif", ".tiff":
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d photos", len(out))
	}
	return out
}

// get sends n GETs of path (with If-None-Match: etag when etag is set) and
// checks each answer's status.
func (s *system) get(t *testing.T, path, etag string, n, want int) string {
	t.Helper()
	var got string
	for range n {
		req, _ := http.NewRequest(http.MethodGet, s.srv.Base+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		client := s.srv.HTTP
		if strings.HasPrefix(path, "/a/") {
			client = http.DefaultClient // public variants: no credentials, as from a CDN
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		got = resp.Header.Get("ETag")
	}
	return got
}
