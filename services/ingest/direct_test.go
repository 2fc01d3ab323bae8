package ingest_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/ingest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

const awaitingUpload = pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD

// presigning gives the file:// originals store the PresignPost of an S3
// store (s3blob), whose real signing needs an S3 server (s3blob's tests
// check that one against MinIO); it records what it was asked to sign and
// returns a policy that says so.
type presigning struct {
	blob.Store
	mu     sync.Mutex
	signed []presigned
}

type presigned struct {
	key, contentType string
	maxBytes         int64
	ttl              time.Duration
}

var _ blob.PostSigner = (*presigning)(nil)

func (p *presigning) PresignPost(_ context.Context, key, contentType string, maxBytes int64, ttl time.Duration) (blob.PostPolicy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signed = append(p.signed, presigned{key, contentType, maxBytes, ttl})
	return blob.PostPolicy{URL: "https://originals.example.com/", Fields: map[string]string{
		"key": key, "Content-Type": contentType, "policy": fmt.Sprintf("max=%d,ttl=%s", maxBytes, ttl),
	}}, nil
}

func (p *presigning) calls() []presigned {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]presigned(nil), p.signed...)
}

// newDirectRig is a rig whose originals store can presign uploads.
func newDirectRig(t *testing.T, opt ...func(*options)) (*rig, *presigning) {
	t.Helper()
	var p *presigning
	r := newRig(t, append(opt, func(o *options) {
		o.wrap = func(s blob.Store) blob.Store { p = &presigning{Store: s}; return p }
	})...)
	return r, p
}

// maxBytes sets the rig's upload limit.
func maxBytes(n int64) func(*options) { return func(o *options) { o.cfg.MaxBytes = n } }

// Without an originals store that can presign (the file:// store),
// direct uploads are FAILED_PRECONDITION and nothing is recorded.
func TestCreateUploadURLNeedsPresigning(t *testing.T) {
	r := newRig(t)
	req := &pb.CreateUploadURLRequest{ContentType: "image/jpeg", IdempotencyKey: "direct-1"}
	_, err := r.client.CreateUploadURL(t.Context(), req)
	wantError(t, err, codes.FailedPrecondition, "DIRECT_UPLOAD_UNAVAILABLE", "")
	r.wantNothingKept(t, &pb.UploadMetadata{IdempotencyKey: "direct-1"})
}

// CreateUploadURL's request is flat: its errors name top-level fields.
func TestCreateUploadURLRejectsBadRequests(t *testing.T) {
	req := func(f func(*pb.CreateUploadURLRequest)) *pb.CreateUploadURLRequest {
		r := &pb.CreateUploadURLRequest{FileName: "cat.jpg", ContentType: "image/jpeg", BatchId: "direct", IdempotencyKey: "direct-key"}
		f(r)
		return r
	}
	tests := []struct {
		name   string
		req    *pb.CreateUploadURLRequest
		code   codes.Code
		reason string
		field  string
	}{
		{"NoContentType", req(func(r *pb.CreateUploadURLRequest) { r.ContentType = "" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "content_type"},
		{"UnacceptedContentType", req(func(r *pb.CreateUploadURLRequest) { r.ContentType = "image/svg+xml" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "content_type"},
		{"ContentTypeWithParameters", req(func(r *pb.CreateUploadURLRequest) { r.ContentType = "image/jpeg; q=1" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "content_type"},
		{"ExpiresInTooShort", req(func(r *pb.CreateUploadURLRequest) { r.ExpiresIn = durationpb.New(59 * time.Second) }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "expires_in"},
		{"ExpiresInTooLong", req(func(r *pb.CreateUploadURLRequest) { r.ExpiresIn = durationpb.New(24*time.Hour + time.Second) }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "expires_in"},
		{"ExpiresInNegative", req(func(r *pb.CreateUploadURLRequest) { r.ExpiresIn = durationpb.New(-time.Hour) }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "expires_in"},
		{"FileNameTooLong", req(func(r *pb.CreateUploadURLRequest) { r.FileName = strings.Repeat("n", 256) }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "file_name"},
		{"ContentTypeTooLong", req(func(r *pb.CreateUploadURLRequest) { r.ContentType = "image/" + strings.Repeat("x", 250) }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "content_type"},
		{"FileNameControl", req(func(r *pb.CreateUploadURLRequest) { r.FileName = "cat\x1b[2J.jpg" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "file_name"},
		{"PresetTooLong", req(func(r *pb.CreateUploadURLRequest) { r.Preset = strings.Repeat("p", 65) }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "preset"},
		{"PresetBadForm", req(func(r *pb.CreateUploadURLRequest) { r.Preset = "hero banner" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "preset"},
		{"CallbackURLTooLong", req(func(r *pb.CreateUploadURLRequest) {
			r.CallbackUrl = "https://hooks.example.com/" + strings.Repeat("x", ingest.MaxCallbackURLBytes)
		}), codes.InvalidArgument, apperr.ReasonInvalidField, "callback_url"},
		{"BadBatchID", req(func(r *pb.CreateUploadURLRequest) { r.BatchId = "a/b" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "batch_id"},
		{"BadIdempotencyKey", req(func(r *pb.CreateUploadURLRequest) { r.IdempotencyKey = "line\nbreak" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "idempotency_key"},
		{"BatchSizeTooLarge", req(func(r *pb.CreateUploadURLRequest) { r.BatchSize = ingest.MaxBatchSize + 1 }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "batch_size"},
		{"UnknownPreset", req(func(r *pb.CreateUploadURLRequest) { r.Preset = "huge" }),
			codes.InvalidArgument, apperr.ReasonInvalidField, "preset"},
		{"CallbackWithoutWebhooks", req(func(r *pb.CreateUploadURLRequest) { r.CallbackUrl = "https://hooks.example.com/" }),
			codes.FailedPrecondition, ingest.ReasonCallbackRefused, "callback_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, p := newDirectRig(t)
			_, err := r.client.CreateUploadURL(t.Context(), tc.req)
			wantError(t, err, tc.code, tc.reason, tc.field)
			r.wantNothingKept(t, &pb.UploadMetadata{BatchId: tc.req.GetBatchId(), IdempotencyKey: tc.req.GetIdempotencyKey()})
			if c := p.calls(); len(c) != 0 {
				t.Errorf("presigned %v for a refused request", c)
			}
		})
	}
}

// A direct upload is recorded AWAITING_UPLOAD (nothing is queued: the
// bucket's notification queues the job) and answered with a POST policy
// for the image's key under uploads/: the declared type, the upload limit,
// valid as asked (10 minutes by default).
func TestCreateUploadURL(t *testing.T) {
	tests := []struct {
		name   string
		req    *pb.CreateUploadURLRequest
		format pb.Format
		ttl    time.Duration
		preset string
	}{
		{"JPEGDefaults", &pb.CreateUploadURLRequest{FileName: "cat.jpg", ContentType: "image/jpeg"},
			pb.Format_FORMAT_JPEG, 10 * time.Minute, "default"},
		{"HEICOneHour", &pb.CreateUploadURLRequest{ContentType: "image/heic", ExpiresIn: durationpb.New(time.Hour), Preset: "avatar"},
			pb.Format_FORMAT_HEIF, time.Hour, "avatar"},
		{"WebPInBatchShortest", &pb.CreateUploadURLRequest{ContentType: "image/webp", BatchId: "b-1", BatchSize: 3, ExpiresIn: durationpb.New(time.Minute)},
			pb.Format_FORMAT_WEBP, time.Minute, "default"},
		{"AVIFLongest", &pb.CreateUploadURLRequest{ContentType: "image/avif", ExpiresIn: durationpb.New(24 * time.Hour), IdempotencyKey: "avif"},
			pb.Format_FORMAT_AVIF, 24 * time.Hour, "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const limit = 1 << 20
			r, p := newDirectRig(t, maxBytes(limit))
			before := time.Now()
			resp, err := r.client.CreateUploadURL(t.Context(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			img := resp.GetImage()
			if !jobs.ValidID(img.GetId()) || img.GetState() != awaitingUpload {
				t.Errorf("image %q in state %s, want a new id AWAITING_UPLOAD", img.GetId(), img.GetState())
			}
			wantOriginal := &pb.OriginalInfo{FileName: tc.req.GetFileName(), DeclaredContentType: tc.req.GetContentType(),
				Format: tc.format, DirectUpload: true}
			if !proto.Equal(img.GetOriginal(), wantOriginal) {
				t.Errorf("original %v, want %v", img.GetOriginal(), wantOriginal)
			}
			_, wantSpec, _ := spec.Builtin().Resolve("", tc.preset, nil)
			if img.GetPreset() != tc.preset || !proto.Equal(img.GetSpec(), wantSpec) {
				t.Errorf("preset %q, spec %v; want %q and its spec", img.GetPreset(), img.GetSpec(), tc.preset)
			}
			if img.GetBatchId() != tc.req.GetBatchId() || img.GetBatchSize() != tc.req.GetBatchSize() || img.GetIdempotencyKey() != tc.req.GetIdempotencyKey() {
				t.Errorf("batch %q/%d, key %q; want the request's", img.GetBatchId(), img.GetBatchSize(), img.GetIdempotencyKey())
			}

			key := jobs.UploadPrefix + img.GetId()
			if got, want := p.calls(), []presigned{{key, tc.req.GetContentType(), limit, tc.ttl}}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("presigned %v, want %v", got, want)
			}
			wantFields := map[string]string{"key": key, "Content-Type": tc.req.GetContentType(), "policy": fmt.Sprintf("max=%d,ttl=%s", limit, tc.ttl)}
			if resp.GetUploadUrl() != "https://originals.example.com/" || resp.GetMethod() != "POST" ||
				!maps.Equal(resp.GetFormFields(), wantFields) || len(resp.GetHeaders()) != 0 {
				t.Errorf("answered %s %s with form fields %v and headers %v; want a POST of the policy's fields %v, no headers",
					resp.GetMethod(), resp.GetUploadUrl(), resp.GetFormFields(), resp.GetHeaders(), wantFields)
			}
			if exp := resp.GetExpireTime().AsTime(); exp.Before(before.Add(tc.ttl-time.Second)) || exp.After(time.Now().Add(tc.ttl+time.Second)) {
				t.Errorf("expire time %v, want %v after the request", exp, tc.ttl)
			}

			if rec := r.record(t, img.GetId()); !proto.Equal(rec.Image, img) || rec.Version != 1 {
				t.Errorf("record %v v%d, want the answered image at v1", rec.Image, rec.Version)
			}
			r.wantNothingQueued(t)
			if n := r.objects(t); n != 0 {
				t.Errorf("%d files in the originals store, want none before the client's POST", n)
			}
		})
	}
}

// A repeated idempotency key answers with the first image: while it awaits
// its upload, with a new URL for the same key; once it was uploaded
// another way, without a URL that could overwrite its original.
func TestCreateUploadURLIdempotencyKey(t *testing.T) {
	t.Run("AwaitingUploadGetsANewURL", func(t *testing.T) {
		t.Parallel()
		r, p := newDirectRig(t, maxBytes(1000))
		req := &pb.CreateUploadURLRequest{ContentType: "image/png", IdempotencyKey: "direct-again"}
		first, err := r.client.CreateUploadURL(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		// The repeat declares another type: the first image's is signed.
		again, err := r.client.CreateUploadURL(t.Context(), &pb.CreateUploadURLRequest{ContentType: "image/jpeg", IdempotencyKey: "direct-again"})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(again.GetImage(), first.GetImage()) {
			t.Errorf("repeat answered\n%v\nwant the first image\n%v", again.GetImage(), first.GetImage())
		}
		key := jobs.UploadPrefix + first.GetImage().GetId()
		want := []presigned{{key, "image/png", 1000, 10 * time.Minute}, {key, "image/png", 1000, 10 * time.Minute}}
		if got := p.calls(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("presigned %v, want %v", got, want)
		}
		if again.GetUploadUrl() == "" || again.GetMethod() != "POST" || again.GetFormFields()["Content-Type"] != "image/png" {
			t.Errorf("repeat answered %s %q with fields %v, want a POST for image/png", again.GetMethod(), again.GetUploadUrl(), again.GetFormFields())
		}
	})

	t.Run("UploadedImageGetsNoURL", func(t *testing.T) {
		t.Parallel()
		r, p := newDirectRig(t)
		img := r.mustUpload(t, &pb.UploadMetadata{IdempotencyKey: "streamed"}, imagetest.Fixture(t, "grey.jpg"))
		resp, err := r.client.CreateUploadURL(t.Context(), &pb.CreateUploadURLRequest{ContentType: "image/jpeg", IdempotencyKey: "streamed"})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp.GetImage(), img) {
			t.Errorf("answered\n%v\nwant the streamed image\n%v", resp.GetImage(), img)
		}
		if resp.GetUploadUrl() != "" || resp.GetMethod() != "" || len(resp.GetFormFields()) != 0 || len(p.calls()) != 0 {
			t.Errorf("answered URL %q %q %v (%d signed), want none", resp.GetMethod(), resp.GetUploadUrl(), resp.GetFormFields(), len(p.calls()))
		}
	})
}
