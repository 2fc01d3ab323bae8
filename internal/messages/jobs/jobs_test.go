package jobs_test

import (
	"errors"
	"slices"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
)

func TestDecode(t *testing.T) {
	const id = "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577"
	s3 := func(name, key string) string {
		return `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"` + name +
			`","s3":{"bucket":{"name":"originals"},"object":{"key":"` + key + `","size":1234}}}]}`
	}
	cases := []struct {
		name    string
		body    string
		id      string
		upload  bool
		notAJob bool
		bad     bool
	}{
		{"job", `{"image_id":"` + id + `"}`, id, false, false, false},
		{"S3 put", s3("ObjectCreated:Put", "uploads/"+id), id, true, false, false},
		{"S3 multipart, under a prefix", s3("ObjectCreated:CompleteMultipartUpload", "tenant%2Fa/uploads/"+id), id, true, false, false},
		{"S3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"originals"}`, "", false, true, false},
		{"S3 delete", s3("ObjectRemoved:Delete", "uploads/"+id), "", false, true, false},
		{"S3 outside uploads/", s3("ObjectCreated:Put", id), "", false, false, true},
		{"S3 key not an id", s3("ObjectCreated:Put", "uploads/../../etc"), "", false, false, true},
		{"two records", `{"Records":[{},{}]}`, "", false, false, true},
		{"not JSON", `garbage`, "", false, false, true},
		{"no id", `{"hello":"world"}`, "", false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, err := jobs.Decode([]byte(c.body))
			switch {
			case c.notAJob:
				if !errors.Is(err, jobs.ErrNotAJob) {
					t.Fatalf("Decode = %+v, %v; want ErrNotAJob", j, err)
				}
			case c.bad:
				if err == nil || errors.Is(err, jobs.ErrNotAJob) {
					t.Fatalf("Decode = %+v, %v; want a decoding error", j, err)
				}
			default:
				if err != nil || j.ImageID != c.id || (j.Upload != nil) != c.upload {
					t.Fatalf("Decode = %+v, %v; want image %s, upload %v", j, err, c.id, c.upload)
				}
				if c.upload && j.Upload.Size != 1234 {
					t.Errorf("upload size %d", j.Upload.Size)
				}
			}
		})
	}
	if got := string(jobs.Job{ImageID: id}.Encode()); got != `{"image_id":"`+id+`"}` {
		t.Errorf("Encode = %s", got)
	}
}

// Where an image's blobs live: its original under its own id (ingest, or
// a direct upload once admitted) or under uploads/ (a direct upload not
// admitted yet), or its source's (a reprocessed image,
// which then has none of its own: deleting its own keys spares the
// source's); its variants under its id, or under private/ for a private
// image, at one URL path either way.
func TestKeys(t *testing.T) {
	const src, direct, re = "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577", "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c578", "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c579"
	const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	cases := []struct {
		name     string
		img      *pb.Image
		original string
		own      bool // the original is under one of OwnOriginalKeys(id)
	}{
		{"uploaded", &pb.Image{Id: src}, src, true},
		{"direct upload", &pb.Image{Id: direct, Original: &pb.OriginalInfo{DirectUpload: true}}, "uploads/" + direct, true},
		{"admitted direct upload", &pb.Image{Id: direct, Original: &pb.OriginalInfo{DirectUpload: true, Sha256: sha}}, direct, true},
		{"reprocessed admitted direct upload", &pb.Image{Id: re, SourceImageId: direct, Original: &pb.OriginalInfo{DirectUpload: true, Sha256: sha}}, direct, false},
		{"reprocessed", &pb.Image{Id: re, SourceImageId: src}, src, false},
		{"reprocessed direct upload", &pb.Image{Id: re, SourceImageId: "uploads/" + direct, Original: &pb.OriginalInfo{DirectUpload: true}}, "uploads/" + direct, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := jobs.OriginalKey(c.img); got != c.original {
				t.Errorf("OriginalKey = %q, want %q", got, c.original)
			}
			if got, want := jobs.Unadmitted(c.img), c.original == "uploads/"+c.img.GetId(); got != want {
				t.Errorf("Unadmitted = %v, want %v", got, want)
			}
			if own := slices.Contains(jobs.OwnOriginalKeys(c.img.GetId()), c.original); own != c.own {
				t.Errorf("original %q among OwnOriginalKeys(%s) = %v, want %v", c.original, c.img.GetId(), own, c.own)
			}
		})
	}
	for _, private := range []bool{false, true} {
		img := &pb.Image{Id: src}
		if private {
			img.Visibility = pb.Visibility_VISIBILITY_PRIVATE
		}
		want := src + "/thumb"
		if private {
			want = "private/" + want
		}
		if jobs.Private(img) != private || jobs.VariantKey(src, "thumb", jobs.Private(img)) != want {
			t.Errorf("private %v: Private = %v, VariantKey = %q; want %q", private, jobs.Private(img), jobs.VariantKey(src, "thumb", private), want)
		}
	}
	if got := jobs.VariantPath(src, "thumb"); got != "/a/"+src+"/thumb" {
		t.Errorf("VariantPath = %q", got)
	}
}
