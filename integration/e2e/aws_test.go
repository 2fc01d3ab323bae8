package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/protobuf/proto"
)

// awsStores names fresh buckets, a queue and a table on the loopback AWS
// servers and creates them with app.Init, as `imagepipe init` does.
func awsStores(t *testing.T) map[string]string {
	t.Helper()
	for _, svc := range []string{"S3", "SQS", "DYNAMODB"} {
		awstest.Config(t, svc) // skips, or fails under make test, without servers
	}
	env := map[string]string{
		"IMAGEPIPE_ORIGINALS": "s3://" + awstest.Name("originals") + "/o",
		"IMAGEPIPE_VARIANTS":  "s3://" + awstest.Name("variants"),
		"IMAGEPIPE_QUEUE":     "sqs://" + awstest.Name("jobs"),
		"IMAGEPIPE_STATUS":    "dynamodb://" + awstest.Name("images"),
		// Webhooks on: events on SQS, the delivery log in DynamoDB.
		"IMAGEPIPE_EVENTS":              "sqs://" + awstest.Name("events"),
		"IMAGEPIPE_WEBHOOK_SECRETS":     secretNew,
		"IMAGEPIPE_WEBHOOK_ALLOW_NETS":  "127.0.0.0/8",
		"IMAGEPIPE_WEBHOOK_BACKOFF":     "200ms",
		"IMAGEPIPE_WEBHOOK_MAX_BACKOFF": "1s",
		// Not the embedded default: the operator's key and the URL
		// signing key are given, the same to every target.
		"IMAGEPIPE_ADMIN_KEY":        "test-admin-key-" + awstest.Name("k") + "-0123456789abcdef",
		"IMAGEPIPE_URL_SIGNING_KEYS": urlsign.GenerateKey(),
	}
	cfg := testConfig(t.TempDir())
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.Init(context.Background(), cfg, &out); err != nil {
		t.Fatalf("init: %v\n%s", err, out.String())
	}
	// Idempotent: a second run changes nothing and succeeds.
	if err := app.Init(context.Background(), cfg, io.Discard); err != nil {
		t.Fatalf("second init: %v", err)
	}
	return env
}

func envList(m map[string]string, extra ...string) []string {
	out := append([]string{}, extra...)
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// The four targets as four processes talking gRPC, on S3, SQS and DynamoDB:
// an upload reaches READY (after a transient failure that is redelivered),
// its variants are served, and a poison job ends in the dead-letter queue
// with its image FAILED.
func TestSplitProcessesOnAWS(t *testing.T) {
	stores := awsStores(t)
	dir := t.TempDir()
	stores["IMAGEPIPE_INGEST_MAX_BYTES"] = strconv.Itoa(maxUpload)
	status := spawn(t, dir, "status", "", envList(stores, "IMAGEPIPE_TARGET=status")...)
	ingest := spawn(t, dir, "ingest", "", envList(stores, "IMAGEPIPE_TARGET=ingest")...)
	proc := spawn(t, dir, "processor", "retry", envList(stores, "IMAGEPIPE_TARGET=processor")...)
	gw := spawn(t, dir, "gateway", "", envList(stores, "IMAGEPIPE_TARGET=gateway",
		"IMAGEPIPE_STATUS_ADDR="+status.grpc, "IMAGEPIPE_INGEST_ADDR="+ingest.grpc, "IMAGEPIPE_PROCESSOR_ADDR="+proc.grpc)...)
	s := &server{apptest.Remote("http://"+gw.http, stores["IMAGEPIPE_ADMIN_KEY"])}
	if err := apptest.WaitHealthy(s.Base); err != nil {
		t.Fatal(err)
	}

	t.Run("TransientFailureThenReady", func(t *testing.T) {
		src := imagetest.Fixture(t, "dandelion.jpg")
		info := imagetest.Decode(t, src)
		r := s.post(t, "/v1/images?wait=60s", "image/jpeg", bytes.NewReader(src))
		if r.code != http.StatusOK {
			t.Fatalf("upload: %d %s", r.code, r.body)
		}
		img := r.image(t)
		if img.GetAttempts() != 2 {
			t.Errorf("READY after %d attempts, want 2 (the first fails on purpose)", img.GetAttempts())
		}
		checkVariants(t, s, img, src, info.Width, info.Height)
	})

	// CreateUploadURL → POST policy straight to the bucket → the bucket's
	// ObjectCreated notification on the job queue → processed and tracked.
	// MinIO cannot notify an SQS queue, so the test sends the notification
	// S3 would send, byte for byte in its format. S3 itself refuses a file
	// over the upload limit; a second POST with the same policy after the
	// image is READY changes nothing.
	t.Run("PresignedUploadThroughS3Event", func(t *testing.T) {
		ctx := context.Background()
		r := s.post(t, "/v1/uploads", "application/json", strings.NewReader(`{"file_name":"direct.jpg","content_type":"image/jpeg"}`))
		if r.code != http.StatusOK {
			t.Fatalf("POST /v1/uploads: %d %s", r.code, r.body)
		}
		var created pb.CreateUploadURLResponse
		if err := unmarshal(r.body, &created); err != nil {
			t.Fatal(err)
		}
		id := created.GetImage().GetId()
		if created.GetImage().GetState() != pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD || created.GetMethod() != "POST" ||
			created.GetUploadUrl() == "" || created.GetFormFields()["Content-Type"] != "image/jpeg" || len(created.GetHeaders()) != 0 {
			t.Fatalf("created %v", &created)
		}
		if exp := time.Until(created.GetExpireTime().AsTime()); exp < 9*time.Minute || exp > 10*time.Minute {
			t.Errorf("policy expires in %v, want 10m", exp)
		}
		originals, err := blob.Open(ctx, stores["IMAGEPIPE_ORIGINALS"])
		if err != nil {
			t.Fatal(err)
		}
		defer originals.Close()
		q, err := queue.Open(ctx, stores["IMAGEPIPE_QUEUE"])
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()

		over := append([]byte{0xff, 0xd8, 0xff}, make([]byte, maxUpload-2)...)
		if r := postUpload(t, &created, over); r.code < 400 || r.code >= 500 {
			t.Fatalf("POST one byte over the limit: %d %s, want refused by S3", r.code, r.body)
		}
		if img := s.get(t, "/v1/images/"+id).image(t); img.GetState() != pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD {
			t.Errorf("after a refused upload the image is %s, want AWAITING_UPLOAD", img.GetState())
		}
		if _, err := originals.Head(ctx, jobs.UploadPrefix+id); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("a refused upload left %s: %v", jobs.UploadPrefix+id, err)
		}

		src := imagetest.Fixture(t, "dandelion.jpg")
		if r := postUpload(t, &created, src); r.code/100 != 2 {
			t.Fatalf("POST upload: %d %s", r.code, r.body)
		}
		notifyUpload(t, q, stores, id, len(src))
		img := s.waitTerminal(t, id, 60*time.Second)
		info := imagetest.Decode(t, src)
		if img.GetOriginal().GetBytes() != int64(len(src)) || img.GetOriginal().GetSha256() != sha256Hex(src) || !img.GetOriginal().GetDirectUpload() {
			t.Errorf("original recorded as %v", img.GetOriginal())
		}
		checkVariants(t, s, img, src, info.Width, info.Height)
		if got := readBlob(t, originals, id); sha256Hex(got) != sha256Hex(src) {
			t.Errorf("original under %s: %d bytes, want the upload", id, len(got))
		}
		if _, err := originals.Head(ctx, jobs.UploadPrefix+id); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("the admitted upload is still under %s: %v", jobs.UploadPrefix+id, err)
		}

		// The policy is still valid: S3 takes a second upload, and the
		// processor removes it when its notification comes.
		second := imagetest.Fixture(t, "orient-3.jpg")
		if r := postUpload(t, &created, second); r.code/100 != 2 {
			t.Fatalf("second POST: %d %s", r.code, r.body)
		}
		notifyUpload(t, q, stores, id, len(second))
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, err := originals.Head(ctx, jobs.UploadPrefix+id); errors.Is(err, blob.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the second upload is still under %s", jobs.UploadPrefix+id)
			}
		}
		after := s.get(t, "/v1/images/"+id).image(t)
		if !proto.Equal(after, img) {
			t.Errorf("after a second upload the image is\n%v\nwant it unchanged\n%v", after, img)
		}
		if got := readBlob(t, originals, id); sha256Hex(got) != img.GetOriginal().GetSha256() {
			t.Errorf("original under %s changed: %d bytes", id, len(got))
		}
		checkVariants(t, s, after, src, info.Width, info.Height)
	})

	t.Run("PoisonJobToDLQ", func(t *testing.T) {
		r := s.post(t, "/v1/images?wait=0", "image/png", bytes.NewReader(imagetest.Fixture(t, "coffee.png")))
		if r.code != http.StatusAccepted {
			t.Fatalf("upload: %d %s", r.code, r.body)
		}
		id := r.image(t).GetId()
		writeFile(filepath.Join(dir, "poison"), id)
		img := s.waitTerminal(t, id, 90*time.Second)
		if img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "processing_failed" {
			t.Fatalf("%s %v, want FAILED processing_failed", img.GetState(), img.GetError())
		}
		dlq, err := queue.Open(context.Background(), stores["IMAGEPIPE_QUEUE"]+"-dlq")
		if err != nil {
			t.Fatal(err)
		}
		defer dlq.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			msgs, err := dlq.Receive(context.Background(), queue.ReceiveOptions{MaxMessages: 10, WaitTime: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if j, err := jobs.Decode(m.Body); err == nil && j.ImageID == id {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job of %s never reached the dead-letter queue", id)
			}
		}
	})

	// A callback that fails once: the event crosses SQS (processor → status
	// target), the delivery log is DynamoDB, and the log is read through the
	// gateway from the status target's AdminService.
	t.Run("WebhookThroughSQSAndDynamoDB", func(t *testing.T) {
		cb := newReceiver(t, secretNew, 1)
		r := s.post(t, "/v1/images?wait=60s&callback_url="+url.QueryEscape(cb.URL), "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "orient-3.jpg")))
		if r.code != http.StatusOK {
			t.Fatalf("upload: %d %s", r.code, r.body)
		}
		id := r.image(t).GetId()
		got := cb.accepted(t, 1, 60*time.Second)
		if len(got) != 1 || got[0].event.GetType() != "image.ready" || got[0].event.GetImage().GetId() != id {
			t.Fatalf("callback accepted %d events, want image.ready for %s", len(got), id)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			d := s.deliveries(t, "image_id="+id)
			if len(d) == 1 && d[0].GetState() == pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED && fmt.Sprint(attemptCodes(d[0])) == "[500 200]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery log for %s: %v", id, d)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("DeadLettersThroughAdmin", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			r := s.get(t, "/v1/admin/dead-letters")
			var list pb.ListDeadLettersResponse
			if r.code != http.StatusOK || unmarshal(r.body, &list) != nil {
				t.Fatalf("list dead letters: %d %s", r.code, r.body)
			}
			for _, d := range list.GetDeadLetters() {
				if d.GetImage().GetState() == pb.ImageState_IMAGE_STATE_FAILED && d.GetImage().GetError().GetCode() == "processing_failed" {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the poison job is not listed: %s", r.body)
			}
			time.Sleep(time.Second)
		}
	})
}

// maxUpload is the upload limit of TestSplitProcessesOnAWS's targets:
// above every fixture it uploads, low enough to send one byte more.
const maxUpload = 1 << 20

// postUpload sends body with a CreateUploadURL answer's POST policy, as a
// browser form does: the policy's fields, then the file. It carries no
// credentials.
func postUpload(t *testing.T, created *pb.CreateUploadURLResponse, body []byte) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range created.GetFormFields() {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", created.GetImage().GetOriginal().GetFileName())
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(body)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(created.GetMethod(), created.GetUploadUrl(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, req)
}

// notifyUpload sends the job queue the notification S3 sends for an
// object created under uploads/ for image id.
func notifyUpload(t *testing.T, q queue.Queue, stores map[string]string, id string, size int) {
	t.Helper()
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(stores["IMAGEPIPE_ORIGINALS"], "s3://"), "/")
	event := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",`+
		`"eventTime":"2026-11-21T19:00:00.000Z","eventName":"ObjectCreated:Post","s3":{"s3SchemaVersion":"1.0",`+
		`"configurationId":"imagepipe-uploads","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},`+
		`"object":{"key":%q,"size":%d,"eTag":"0","sequencer":"0"}}}]}`, bucket, bucket, prefix+"/"+jobs.UploadPrefix+id, size)
	if _, err := q.Send(context.Background(), []byte(event), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
}

// readBlob is the object under key, read whole.
func readBlob(t *testing.T, store blob.Store, key string) []byte {
	t.Helper()
	rc, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
