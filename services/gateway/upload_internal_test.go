package gateway

import (
	"net/http/httptest"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
)

// Query parameters reach the upload metadata; a batch_size that is not an
// int32 is refused naming the field.
func TestUploadMetadataQuery(t *testing.T) {
	g := &Gateway{cfg: DefaultConfig()}
	cases := []struct {
		query    string
		size     int32
		callback string
		field    string
	}{
		{"batch_id=b&batch_size=3&callback_url=https%3A%2F%2Fexample.com%2Fhook", 3, "https://example.com/hook", ""},
		{"batch_id=b", 0, "", ""},
		{"batch_size=-1", -1, "", ""}, // the range is ingest's to check
		{"batch_size=many", 0, "", "batch_size"},
		{"batch_size=1.5", 0, "", "batch_size"},
		{"batch_size=99999999999", 0, "", "batch_size"},
	}
	for _, c := range cases {
		md, _, err := g.uploadMetadata(httptest.NewRequest("POST", "/v1/images?"+c.query, nil))
		if c.field != "" {
			if e, ok := apperr.As(err); !ok || e.Field != c.field {
				t.Errorf("%s: %v, want an invalid %s", c.query, err, c.field)
			}
			continue
		}
		if err != nil || md.GetBatchSize() != c.size || md.GetCallbackUrl() != c.callback {
			t.Errorf("%s: %v, %v", c.query, md, err)
		}
	}
}

// visibility= sets the upload's visibility; absent leaves it to the
// service; anything else is refused naming the field.
func TestUploadMetadataVisibility(t *testing.T) {
	g := &Gateway{cfg: DefaultConfig()}
	cases := []struct {
		query string
		want  pb.Visibility
		ok    bool
	}{
		{"", pb.Visibility_VISIBILITY_UNSPECIFIED, true},
		{"visibility=public", pb.Visibility_VISIBILITY_PUBLIC, true},
		{"visibility=private", pb.Visibility_VISIBILITY_PRIVATE, true},
		{"visibility=", pb.Visibility_VISIBILITY_UNSPECIFIED, true},
		{"visibility=PRIVATE", 0, false},
		{"visibility=VISIBILITY_PRIVATE", 0, false},
		{"visibility=secret", 0, false},
		{"visibility=1", 0, false},
	}
	for _, c := range cases {
		md, _, err := g.uploadMetadata(httptest.NewRequest("POST", "/v1/images?"+c.query, nil))
		if !c.ok {
			if e, ok := apperr.As(err); !ok || e.Field != "visibility" {
				t.Errorf("%s: %v, want an invalid visibility", c.query, err)
			}
			continue
		}
		if err != nil || md.GetVisibility() != c.want {
			t.Errorf("%s: %v, %v; want %v", c.query, md.GetVisibility(), err, c.want)
		}
	}
}
