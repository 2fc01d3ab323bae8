package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/ingest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	received = pb.ImageState_IMAGE_STATE_RECEIVED
	queued   = pb.ImageState_IMAGE_STATE_QUEUED
	ready    = pb.ImageState_IMAGE_STATE_READY
)

func metadataMsg(md *pb.UploadMetadata) *pb.UploadRequest {
	return &pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: md}}
}

func chunkMsg(b []byte) *pb.UploadRequest {
	return &pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: b}}
}

// wantNothingKept checks that a refused upload left no original, no job
// and no record (under its batch or its idempotency key, in the caller's
// tenant).
func (r *rig) wantNothingKept(t *testing.T, md *pb.UploadMetadata) {
	t.Helper()
	if n := r.objects(t); n != 0 {
		t.Errorf("%d files in the originals store, want none", n)
	}
	r.wantNothingQueued(t)
	if b := md.GetBatchId(); b != "" {
		page, err := r.rs.ListByBatch(t.Context(), r.tenant(), b, 10, "")
		if err != nil || len(page.Records) != 0 {
			t.Errorf("batch %s: %d records, %v; want none", b, len(page.Records), err)
		}
	}
	if k := md.GetIdempotencyKey(); k != "" {
		if rec, err := r.rs.GetByIdempotencyKey(t.Context(), r.tenant(), k); !errors.Is(err, records.ErrNotFound) {
			t.Errorf("idempotency key %s: record %v, %v; want ErrNotFound", k, rec, err)
		}
	}
}

// Metadata that fails validation is refused before anything is stored,
// with INVALID_ARGUMENT (or FAILED_PRECONDITION) naming the field at fault.
func TestUploadRejectsBadMetadata(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")
	withBody := func(md *pb.UploadMetadata) []*pb.UploadRequest { return msgs(md, jpeg) }
	md := func(f func(*pb.UploadMetadata)) *pb.UploadMetadata {
		m := &pb.UploadMetadata{FileName: "grey.jpg", BatchId: "rejected", IdempotencyKey: "rejected-key"}
		f(m)
		return m
	}
	maxWait := ingest.DefaultConfig().MaxWait
	tests := []struct {
		name   string
		ms     []*pb.UploadRequest
		code   codes.Code
		reason string
		field  string
	}{
		{"NoMessages", nil, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata"},
		{"ChunkFirst", []*pb.UploadRequest{chunkMsg(jpeg)}, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata"},
		{"FileNameTooLong", withBody(md(func(m *pb.UploadMetadata) { m.FileName = strings.Repeat("x", 256) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.file_name"},
		{"FileNameNUL", withBody(md(func(m *pb.UploadMetadata) { m.FileName = "a\x00.jpg" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.file_name"},
		{"FileNameNewline", withBody(md(func(m *pb.UploadMetadata) { m.FileName = "a\nb.jpg" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.file_name"},
		{"FileNameC1Control", withBody(md(func(m *pb.UploadMetadata) { m.FileName = "a\u009bb.jpg" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.file_name"},
		{"ContentTypeTooLong", withBody(md(func(m *pb.UploadMetadata) { m.ContentType = "image/" + strings.Repeat("x", 250) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.content_type"},
		{"ContentTypeNoSubtype", withBody(md(func(m *pb.UploadMetadata) { m.ContentType = "image" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.content_type"},
		{"ContentTypeNotMediaType", withBody(md(func(m *pb.UploadMetadata) { m.ContentType = "a picture" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.content_type"},
		{"ContentTypeBadParameter", withBody(md(func(m *pb.UploadMetadata) { m.ContentType = "image/jpeg; q" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.content_type"},
		{"ContentTypeControl", withBody(md(func(m *pb.UploadMetadata) { m.ContentType = "image/jpeg\r\nX-Evil: 1" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.content_type"},
		{"ContentTypeNotASCII", withBody(md(func(m *pb.UploadMetadata) { m.ContentType = `image/jpeg; name="é"` })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.content_type"},
		{"PresetTooLong", withBody(md(func(m *pb.UploadMetadata) { m.Preset = strings.Repeat("p", 65) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.preset"},
		{"PresetBadForm", withBody(md(func(m *pb.UploadMetadata) { m.Preset = "../avatar" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.preset"},
		{"CallbackURLTooLong", withBody(md(func(m *pb.UploadMetadata) {
			m.CallbackUrl = "https://hooks.example.com/" + strings.Repeat("x", ingest.MaxCallbackURLBytes)
		})), codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.callback_url"},
		{"CallbackURLControl", withBody(md(func(m *pb.UploadMetadata) { m.CallbackUrl = "https://hooks.example.com/\x7f" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.callback_url"},
		{"BatchIDWithSpace", withBody(md(func(m *pb.UploadMetadata) { m.BatchId = "my batch" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.batch_id"},
		{"BatchIDTooLong", withBody(md(func(m *pb.UploadMetadata) { m.BatchId = strings.Repeat("b", 65) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.batch_id"},
		{"IdempotencyKeyNotASCII", withBody(md(func(m *pb.UploadMetadata) { m.IdempotencyKey = "clé" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.idempotency_key"},
		{"IdempotencyKeyControl", withBody(md(func(m *pb.UploadMetadata) { m.IdempotencyKey = "a\tb" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.idempotency_key"},
		{"IdempotencyKeyTooLong", withBody(md(func(m *pb.UploadMetadata) { m.IdempotencyKey = strings.Repeat("k", 129) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.idempotency_key"},
		{"WaitNegative", withBody(md(func(m *pb.UploadMetadata) { m.Wait = durationpb.New(-time.Second) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.wait"},
		{"WaitOverMax", withBody(md(func(m *pb.UploadMetadata) { m.Wait = durationpb.New(maxWait + time.Second) })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.wait"},
		{"BatchSizeWithoutBatch", withBody(md(func(m *pb.UploadMetadata) { m.BatchId, m.BatchSize = "", 3 })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.batch_size"},
		{"BatchSizeNegative", withBody(md(func(m *pb.UploadMetadata) { m.BatchSize = -1 })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.batch_size"},
		{"BatchSizeTooLarge", withBody(md(func(m *pb.UploadMetadata) { m.BatchSize = ingest.MaxBatchSize + 1 })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.batch_size"},
		{"UnknownPreset", withBody(md(func(m *pb.UploadMetadata) { m.Preset = "no-such-preset" })),
			codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.preset"},
		{"PresetAndSpec", withBody(md(func(m *pb.UploadMetadata) {
			m.Preset = "avatar"
			m.Spec = &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{Name: "s", Width: 10, Format: pb.Format_FORMAT_PNG}}}
		})), codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.spec"},
		// Webhooks are off in this rig (no CallbackCheck).
		{"CallbackWithoutWebhooks", withBody(md(func(m *pb.UploadMetadata) { m.CallbackUrl = "https://hooks.example.com/x" })),
			codes.FailedPrecondition, ingest.ReasonCallbackRefused, "metadata.callback_url"},
		// A second metadata message, within the sniffed header or later.
		{"SecondMetadataInHeader", []*pb.UploadRequest{
			metadataMsg(md(func(*pb.UploadMetadata) {})), chunkMsg(jpeg[:10]),
			metadataMsg(md(func(*pb.UploadMetadata) {})), chunkMsg(jpeg[10:]),
		}, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata"},
		{"SecondMetadataInBody", []*pb.UploadRequest{
			metadataMsg(md(func(*pb.UploadMetadata) {})), chunkMsg(jpeg[:4096]),
			metadataMsg(md(func(*pb.UploadMetadata) {})), chunkMsg(jpeg[4096:]),
		}, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			_, err := r.send(t, tc.ms)
			wantError(t, err, tc.code, tc.reason, tc.field)
			var first *pb.UploadMetadata
			if len(tc.ms) > 0 {
				first = tc.ms[0].GetMetadata()
			}
			r.wantNothingKept(t, first)
		})
	}
}

// A body that is empty or not an image of an accepted format (by its
// leading bytes, whatever the declared type) is refused; nothing is kept.
func TestUploadRejectsBody(t *testing.T) {
	md := &pb.UploadMetadata{FileName: "upload.jpg", ContentType: "image/jpeg", BatchId: "bodies", IdempotencyKey: "body-key"}
	tests := []struct {
		name   string
		ms     []*pb.UploadRequest
		code   codes.Code
		reason string
	}{
		{"MetadataOnly", []*pb.UploadRequest{metadataMsg(md)},
			codes.InvalidArgument, apperr.ReasonEmptyBody},
		{"EmptyChunks", []*pb.UploadRequest{metadataMsg(md), chunkMsg(nil), chunkMsg([]byte{})},
			codes.InvalidArgument, apperr.ReasonEmptyBody},
		{"Text", msgs(md, []byte("hello, this is not a picture at all\n")),
			codes.InvalidArgument, apperr.ReasonUnsupportedFormat},
		{"ShortText", msgs(md, []byte("hi")),
			codes.InvalidArgument, apperr.ReasonUnsupportedFormat},
		{"PDF", msgs(md, append([]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), bytes.Repeat([]byte("0 0 obj\n"), 500)...)),
			codes.InvalidArgument, apperr.ReasonUnsupportedFormat},
		{"SVG", msgs(md, imagetest.File(t, "hostile/xxe.svg")),
			codes.InvalidArgument, apperr.ReasonUnsupportedFormat},
		// A JPEG whose first 32 bytes are lost is no longer a JPEG.
		{"JPEGWithoutItsHeader", msgs(md, imagetest.Fixture(t, "grey.jpg")[32:]),
			codes.InvalidArgument, apperr.ReasonUnsupportedFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			_, err := r.send(t, tc.ms)
			wantError(t, err, tc.code, tc.reason, "chunk")
			r.wantNothingKept(t, md)
		})
	}
}

// The size limit is inclusive; one byte more is RESOURCE_EXHAUSTED, and
// nothing is stored or queued, however far past the limit the client goes.
func TestUploadSizeLimit(t *testing.T) {
	body := imagetest.Fixture(t, "dandelion.jpg") // ~140 KB
	size := int64(len(body))
	tests := []struct {
		name     string
		maxBytes int64
		accepted bool
	}{
		{"AtTheLimit", size, true},
		{"OneByteOver", size - 1, false},
		{"WithinTheHeader", 16, false}, // the limit falls inside the sniffed header
		{"FarOver", 1 << 10, false},    // the client is still sending when refused
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, func(o *options) { o.cfg.MaxBytes = tc.maxBytes })
			md := &pb.UploadMetadata{FileName: "dandelion.jpg", BatchId: "sizes", IdempotencyKey: "size-key"}
			resp, err := r.upload(t, md, body)
			if !tc.accepted {
				if err == nil {
					t.Fatalf("Upload of %d bytes under a %d-byte limit succeeded: %v", size, tc.maxBytes, resp.GetImage())
				}
				wantError(t, err, codes.ResourceExhausted, apperr.ReasonTooLarge, "chunk")
				r.wantNothingKept(t, md)
				return
			}
			if err != nil {
				t.Fatalf("Upload of %d bytes under a %d-byte limit: %v", size, tc.maxBytes, err)
			}
			if got := resp.GetImage().GetOriginal().GetBytes(); got != size {
				t.Errorf("original of %d bytes, want %d", got, size)
			}
			if _, a := r.stored(t, resp.GetImage().GetId()); a.Size != size {
				t.Errorf("stored original of %d bytes, want %d", a.Size, size)
			}
		})
	}
}

// A good upload stores the original as sent under the image's id, records
// the image QUEUED with the original's format, size and hash, and queues
// one job for it.
func TestUploadStoresRecordsAndQueues(t *testing.T) {
	tests := []struct {
		fixture string
		md      *pb.UploadMetadata
		format  pb.Format
		mime    string
		preset  string
	}{
		{"dandelion.jpg", &pb.UploadMetadata{FileName: "dandelion.jpg", ContentType: "image/jpeg"},
			pb.Format_FORMAT_JPEG, "image/jpeg", "default"},
		// The declared type is kept as declared; the format is sniffed.
		{"coffee.png", &pb.UploadMetadata{FileName: "coffee.jpg", ContentType: "image/jpeg", Preset: "avatar", BatchId: "batch_1-a", BatchSize: 2},
			pb.Format_FORMAT_PNG, "image/png", "avatar"},
		{"anim.gif", &pb.UploadMetadata{FileName: "anim.gif", Preset: "web"},
			pb.Format_FORMAT_GIF, "image/gif", "web"},
		{"anim.webp", &pb.UploadMetadata{ContentType: "application/octet-stream", IdempotencyKey: "webp-1"},
			pb.Format_FORMAT_WEBP, "image/webp", "default"},
		{"adobergb.heic", &pb.UploadMetadata{FileName: "adobergb.heic", ContentType: "image/heic"},
			pb.Format_FORMAT_HEIF, "image/heif", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			body := imagetest.Fixture(t, tc.fixture)
			before := time.Now()
			img := r.mustUpload(t, tc.md, body)

			if !jobs.ValidID(img.GetId()) {
				t.Errorf("image id %q is not a NewID id", img.GetId())
			}
			if img.GetState() != queued {
				t.Errorf("state %s, want QUEUED", img.GetState())
			}
			wantOriginal := &pb.OriginalInfo{
				FileName: tc.md.GetFileName(), DeclaredContentType: tc.md.GetContentType(),
				Format: tc.format, Bytes: int64(len(body)), Sha256: sha(body),
			}
			if !proto.Equal(img.GetOriginal(), wantOriginal) {
				t.Errorf("original %v, want %v", img.GetOriginal(), wantOriginal)
			}
			_, wantSpec, err := spec.Builtin().Resolve("", tc.preset, nil)
			if err != nil {
				t.Fatal(err)
			}
			if img.GetPreset() != tc.preset || !proto.Equal(img.GetSpec(), wantSpec) {
				t.Errorf("preset %q, spec %v; want %q and its spec", img.GetPreset(), img.GetSpec(), tc.preset)
			}
			if img.GetBatchId() != tc.md.GetBatchId() || img.GetBatchSize() != tc.md.GetBatchSize() || img.GetIdempotencyKey() != tc.md.GetIdempotencyKey() {
				t.Errorf("batch %q/%d, key %q; want the metadata's", img.GetBatchId(), img.GetBatchSize(), img.GetIdempotencyKey())
			}
			if ct := img.GetCreateTime().AsTime(); ct.Before(before.Add(-time.Second)) || ct.After(time.Now().Add(time.Second)) {
				t.Errorf("create time %v, want about %v", ct, before)
			}

			// The original, as sent, under the image's id.
			got, a := r.stored(t, jobs.OriginalKey(img))
			if sha(got) != sha(body) || a.Size != int64(len(body)) || a.ContentType != tc.mime {
				t.Errorf("stored original: %d bytes, sha256 %s, type %q; want %d bytes, %s, %q",
					a.Size, sha(got), a.ContentType, len(body), sha(body), tc.mime)
			}
			if n := r.objects(t); n != 2 { // the object and its metadata
				t.Errorf("%d files in the originals store, want the one original's 2", n)
			}

			// The record is what the client was told.
			rec := r.record(t, img.GetId())
			if !proto.Equal(rec.Image, img) {
				t.Errorf("record\n%v\nwant the response's image\n%v", rec.Image, img)
			}
			if ids := r.jobs(t); !slices.Equal(ids, []string{img.GetId()}) {
				t.Errorf("queued jobs %v, want one for %s", ids, img.GetId())
			}
		})
	}
}

// A callback URL is vetted by the CallbackCheck: refused, the upload is
// INVALID_ARGUMENT with the check's reason; accepted, it is recorded.
func TestUploadCallbackURL(t *testing.T) {
	check := func(_ context.Context, u string) error {
		if strings.Contains(u, "10.0.0.1") {
			return errors.New("points into a private network")
		}
		return nil
	}
	r := newRig(t, func(o *options) { o.callbacks = check })
	jpeg := imagetest.Fixture(t, "grey.jpg")

	md := &pb.UploadMetadata{CallbackUrl: "http://10.0.0.1/hook", IdempotencyKey: "cb-refused"}
	_, err := r.upload(t, md, jpeg)
	wantError(t, err, codes.InvalidArgument, ingest.ReasonCallbackRefused, "metadata.callback_url")
	if err != nil && !strings.Contains(err.Error(), "points into a private network") {
		t.Errorf("error %q does not say why the URL was refused", err)
	}
	r.wantNothingKept(t, md)

	img := r.mustUpload(t, &pb.UploadMetadata{CallbackUrl: "https://hooks.example.com/done"}, jpeg)
	if img.GetCallbackUrl() != "https://hooks.example.com/done" || r.record(t, img.GetId()).Image.GetCallbackUrl() != img.GetCallbackUrl() {
		t.Errorf("callback URL %q (record %q), want the one sent", img.GetCallbackUrl(), r.record(t, img.GetId()).Image.GetCallbackUrl())
	}
}

// A repeated idempotency key answers with the first image and stores,
// records and queues nothing more; an upload whose key names a record that
// never got queued (its first upload died) queues it.
func TestUploadIdempotencyKey(t *testing.T) {
	first := imagetest.Fixture(t, "grey.jpg")
	second := imagetest.Fixture(t, "coffee.png")

	t.Run("RepeatReturnsTheFirstImage", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		md := &pb.UploadMetadata{FileName: "a.jpg", IdempotencyKey: "client-upload-1"}
		a := r.mustUpload(t, md, first)
		files := r.objects(t)
		for i := range 2 {
			b := r.mustUpload(t, &pb.UploadMetadata{FileName: "b.png", IdempotencyKey: "client-upload-1"}, second)
			if !proto.Equal(b, a) {
				t.Errorf("repeat %d answered\n%v\nwant the first image\n%v", i+1, b, a)
			}
		}
		if n := r.objects(t); n != files {
			t.Errorf("%d files in the originals store after the repeats, want %d", n, files)
		}
		if rec := r.record(t, a.GetId()); rec.Version != 2 || rec.Image.GetOriginal().GetSha256() != sha(first) {
			t.Errorf("record at v%d with sha256 %s, want v2 with the first body's", rec.Version, rec.Image.GetOriginal().GetSha256())
		}
		if ids := r.jobs(t); !slices.Equal(ids, []string{a.GetId()}) {
			t.Errorf("queued jobs %v, want only the first upload's", ids)
		}
	})

	t.Run("OtherKeysAreOtherImages", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		var ids []string
		for _, key := range []string{"k1", "k2", "", ""} {
			ids = append(ids, r.mustUpload(t, &pb.UploadMetadata{IdempotencyKey: key}, first).GetId())
		}
		slices.Sort(ids)
		if len(slices.Compact(slices.Clone(ids))) != 4 {
			t.Errorf("ids %v, want four different images", ids)
		}
		got := r.jobs(t)
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			t.Errorf("queued jobs %v, want one for each of %v", got, ids)
		}
	})

	// Racing uploads of one key: one wins, the others answer with its
	// image and drop their copies of the body. (A loser may queue the
	// image again if it finds the winner's record not yet queued: jobs
	// are at-least-once, so only "all for that image" is checked.)
	t.Run("ConcurrentRepeats", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		const n = 6
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, err := r.upload(t, &pb.UploadMetadata{IdempotencyKey: "raced"}, first)
				if err != nil {
					t.Errorf("upload %d: %v", i, err)
					return
				}
				ids[i] = resp.GetImage().GetId()
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if ids[0] == "" || slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
			t.Fatalf("racing uploads answered images %v, want one", ids)
		}
		if n := r.objects(t); n != 2 {
			t.Errorf("%d files in the originals store, want the one original's 2", n)
		}
		queued := r.jobs(t)
		if len(queued) == 0 || slices.ContainsFunc(queued, func(id string) bool { return id != ids[0] }) {
			t.Errorf("queued jobs %v, want at least one, all for %s", queued, ids[0])
		}
	})

	t.Run("RepeatQueuesAnUnqueuedImage", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		// What a first upload leaves when it dies between the record and
		// the job: a RECEIVED record (its original stored).
		orphan := &pb.Image{Id: jobs.NewID(), IdempotencyKey: "died-midway", State: received,
			Original: &pb.OriginalInfo{Format: pb.Format_FORMAT_JPEG, Bytes: int64(len(first)), Sha256: sha(first)},
			Preset:   "default", CreateTime: timestamppb.Now()}
		if _, err := r.rs.Create(t.Context(), orphan); err != nil {
			t.Fatal(err)
		}
		img := r.mustUpload(t, &pb.UploadMetadata{IdempotencyKey: "died-midway"}, second)
		if img.GetId() != orphan.GetId() || img.GetState() != queued || img.GetOriginal().GetSha256() != sha(first) {
			t.Errorf("answered %s %s (sha256 %s), want %s QUEUED with the first body's hash",
				img.GetId(), img.GetState(), img.GetOriginal().GetSha256(), orphan.GetId())
		}
		if st := r.record(t, orphan.GetId()).Image.GetState(); st != queued {
			t.Errorf("record state %s, want QUEUED", st)
		}
		if ids := r.jobs(t); !slices.Equal(ids, []string{orphan.GetId()}) {
			t.Errorf("queued jobs %v, want one for %s", ids, orphan.GetId())
		}
		if n := r.objects(t); n != 0 {
			t.Errorf("the repeat stored %d files, want none", n)
		}
	})
}

// metadata.wait holds the answer until the image is READY or FAILED, or
// the wait is over (answering with the state then).
func TestUploadWait(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")

	t.Run("Expires", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		start := time.Now()
		img := r.mustUpload(t, &pb.UploadMetadata{Wait: durationpb.New(300 * time.Millisecond)}, jpeg)
		if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
			t.Errorf("answered after %v, before the 300ms wait was over", elapsed)
		}
		if img.GetState() != queued {
			t.Errorf("state %s after the wait, want QUEUED", img.GetState())
		}
	})

	t.Run("EndsAtATerminalState", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		// A stand-in processor: take the job, mark the image READY.
		done := make(chan error, 1)
		go func() {
			done <- func() error {
				ctx := context.WithoutCancel(t.Context())
				ms, err := r.q.Receive(ctx, queue.ReceiveOptions{WaitTime: 10 * time.Second})
				if err != nil || len(ms) != 1 {
					return errors.Join(err, errors.New("no job received"))
				}
				j, err := jobs.Decode(ms[0].Body)
				if err != nil {
					return err
				}
				_, err = records.Mutate(ctx, r.rs, j.ImageID, func(img *pb.Image) error {
					img.State = ready
					return nil
				})
				return err
			}()
		}()
		start := time.Now()
		img := r.mustUpload(t, &pb.UploadMetadata{Wait: durationpb.New(20 * time.Second)}, jpeg)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if img.GetState() != ready {
			t.Errorf("state %s, want READY", img.GetState())
		}
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("answered after %v: the wait did not end at READY", elapsed)
		}
	})
}

// When a store fails after the body is stored, the upload is UNAVAILABLE
// (worth retrying) and leaves nothing half-done: without a record the
// original is deleted; a record whose job could not be queued is FAILED,
// not left RECEIVED, and keeps its original.
func TestUploadStoreFailures(t *testing.T) {
	jpeg := imagetest.Fixture(t, "grey.jpg")

	// The status store is closed: a real failure of the real store. With
	// a key it fails at the idempotency look-up, before the body is read;
	// without, at the record's creation, after the original is stored.
	for _, md := range []*pb.UploadMetadata{{FileName: "grey.jpg"}, {IdempotencyKey: "k"}} {
		name := "RecordsDown"
		if md.GetIdempotencyKey() != "" {
			name += "WithKey"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			r.rs.Close()
			_, err := r.upload(t, md, jpeg)
			wantError(t, err, codes.Unavailable, apperr.ReasonUnavailable, "")
			if n := r.objects(t); n != 0 {
				t.Errorf("%d files in the originals store, want none (an unrecorded original is deleted)", n)
			}
			r.wantNothingQueued(t)
		})
	}

	t.Run("QueueDown", func(t *testing.T) {
		t.Parallel()
		r := newRig(t)
		r.q.Close()
		_, err := r.upload(t, &pb.UploadMetadata{BatchId: "queue-down"}, jpeg)
		wantError(t, err, codes.Unavailable, apperr.ReasonUnavailable, "")
		page, err := r.rs.ListByBatch(t.Context(), "", "queue-down", 10, "")
		if err != nil || len(page.Records) != 1 {
			t.Fatalf("batch: %d records, %v; want the one upload's", len(page.Records), err)
		}
		img := page.Records[0].Image
		if img.GetState() != pb.ImageState_IMAGE_STATE_FAILED || img.GetError().GetCode() != "enqueue_failed" {
			t.Errorf("record %s %v, want FAILED enqueue_failed", img.GetState(), img.GetError())
		}
		if got, _ := r.stored(t, img.GetId()); sha(got) != sha(jpeg) {
			t.Errorf("kept original has sha256 %s, want the upload's", sha(got))
		}
	})
}
