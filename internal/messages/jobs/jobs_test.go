package jobs_test

import (
	"errors"
	"testing"

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
