package ingest_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/services/ingest"
	"google.golang.org/grpc/codes"
)

// Free-text fields are checked for form, not taste: any UTF-8 file name
// without control characters (separators, spaces and emoji included), a
// media type with parameters, a preset name at the length limit (answered
// as unknown, not malformed) are all accepted as such, and kept as sent.
func TestUploadAcceptsFreeTextForms(t *testing.T) {
	r := newRig(t)
	jpeg := imagetest.Fixture(t, "grey.jpg")
	cases := []struct{ name, fileName, contentType string }{
		{"UnicodePath", "photos/été 2024/☕ café.jpg", "image/jpeg"},
		{"WindowsPath", `C:\Users\me\grey.jpg`, "image/jpeg; charset=binary"},
		{"LongestName", strings.Repeat("n", ingest.MaxFileNameBytes), "application/octet-stream"},
		{"NoContentType", "grey.jpg", ""},
		{"QuotedParameter", "grey.jpg", `image/jpeg; name="grey photo.jpg"`},
	}
	for _, tc := range cases {
		img := r.mustUpload(t, &pb.UploadMetadata{FileName: tc.fileName, ContentType: tc.contentType}, jpeg)
		if o := img.GetOriginal(); o.GetFileName() != tc.fileName || o.GetDeclaredContentType() != tc.contentType {
			t.Errorf("%s: kept %q, %q; want them as sent", tc.name, o.GetFileName(), o.GetDeclaredContentType())
		}
	}
	_, err := r.upload(t, &pb.UploadMetadata{Preset: strings.Repeat("p", ingest.MaxPresetNameBytes)}, jpeg)
	wantError(t, err, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.preset")
	if err != nil && !strings.Contains(err.Error(), "unknown preset") {
		t.Errorf("preset of the longest form: %v, want unknown preset", err)
	}
}

// A callback URL over MaxCallbackURLBytes is refused before the
// CallbackCheck (which parses and resolves it) runs; one at the limit is
// checked.
func TestCallbackURLLengthCheckedBeforeResolving(t *testing.T) {
	var checked atomic.Int32
	r := newRig(t, func(o *options) {
		o.callbacks = func(context.Context, string) error { checked.Add(1); return nil }
	})
	jpeg := imagetest.Fixture(t, "grey.jpg")
	base := "https://hooks.example.com/"
	_, err := r.upload(t, &pb.UploadMetadata{CallbackUrl: base + strings.Repeat("x", ingest.MaxCallbackURLBytes-len(base)+1)}, jpeg)
	wantError(t, err, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.callback_url")
	if n := checked.Load(); n != 0 {
		t.Errorf("the over-long URL was checked %d times", n)
	}
	r.mustUpload(t, &pb.UploadMetadata{CallbackUrl: base + strings.Repeat("x", ingest.MaxCallbackURLBytes-len(base))}, jpeg)
	if n := checked.Load(); n != 1 {
		t.Errorf("the URL at the limit was checked %d times, want 1", n)
	}
}
