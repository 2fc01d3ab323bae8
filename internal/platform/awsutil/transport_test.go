package awsutil_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
)

type recorder struct{ req *http.Request }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.req = req
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

// closingBody behaves like smithy-go's request body: once closed, reads
// fail with io.EOF even if bytes were left.
type closingBody struct {
	r      io.Reader
	closed bool
}

func (c *closingBody) Read(p []byte) (int, error) {
	if c.closed {
		return 0, io.EOF
	}
	return c.r.Read(p)
}

func (c *closingBody) Close() error { c.closed = true; return nil }

func TestDetachBodies(t *testing.T) {
	cases := []struct {
		name     string
		size     int
		detached bool
	}{
		{"small body is copied", 1000, true},
		{"body at the limit is copied", awsutil.MaxDetached, true},
		{"large body passes through", awsutil.MaxDetached + 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := strings.Repeat("x", c.size)
			orig := &closingBody{r: strings.NewReader(payload)}
			req, _ := http.NewRequest(http.MethodPost, "http://example.invalid/", orig)
			req.ContentLength = int64(c.size)
			rec := &recorder{}
			if _, err := awsutil.DetachBodies(rec).Do(req); err != nil {
				t.Fatal(err)
			}
			orig.Close() // what the SDK does once Do returns
			got, err := io.ReadAll(rec.req.Body)
			if c.detached {
				if err != nil || !bytes.Equal(got, []byte(payload)) || rec.req.Body == io.ReadCloser(orig) {
					t.Errorf("after the SDK closed its body, the copy read %d bytes, %v", len(got), err)
				}
				return
			}
			if rec.req.Body != io.ReadCloser(orig) {
				t.Error("a large body was copied into memory")
			}
		})
	}
}

type countingClient struct {
	next aws.HTTPClient
	n    *int
}

func (c countingClient) Do(req *http.Request) (*http.Response, error) {
	*c.n++
	return c.next.Do(req)
}

func TestWrapClients(t *testing.T) {
	var n int
	restore := awsutil.WrapClients(func(next aws.HTTPClient) aws.HTTPClient { return countingClient{next, &n} })
	wrapped := awsutil.DetachBodies(&recorder{})
	restore()
	plain := awsutil.DetachBodies(&recorder{})
	for _, c := range []aws.HTTPClient{wrapped, plain, wrapped} {
		req, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
		if _, err := c.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	if n != 2 {
		t.Errorf("the wrap saw %d requests, want the 2 of the client built while it was set", n)
	}
}
