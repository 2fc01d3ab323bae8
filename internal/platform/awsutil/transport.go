// Package awsutil holds what every AWS driver (s3blob, sqsqueue,
// dynamorecords) needs from the SDK alike.
package awsutil

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// MaxDetached is the largest request body DetachBodies copies: every SQS
// and DynamoDB request fits; larger S3 part uploads pass through (S3 reads
// a whole body before it answers, so the race below cannot hit them).
const MaxDetached = 1 << 20

// DetachBodies wraps an SDK HTTP client so that net/http gets a private,
// in-memory copy of each request body up to MaxDetached bytes. Every AWS
// client of imagepipe uses it.
func DetachBodies(next aws.HTTPClient) aws.HTTPClient {
	if w := wrapper.Load(); w != nil {
		next = (*w)(next)
	}
	return detachedBodies{next: next}
}

// wrapper is what WrapClients set: nil but in tests.
var wrapper atomic.Pointer[func(aws.HTTPClient) aws.HTTPClient]

// WrapClients makes every AWS client built from now on send its requests
// through wrap(client) (nil: straight to the client again): the one hook a
// test has to see every request imagepipe's drivers send, such as the
// capacity test counting them. It returns a function that restores the
// previous wrap. Clients already built keep theirs.
func WrapClients(wrap func(aws.HTTPClient) aws.HTTPClient) (restore func()) {
	var p *func(aws.HTTPClient) aws.HTTPClient
	if wrap != nil {
		p = &wrap
	}
	old := wrapper.Swap(p)
	return func() { wrapper.Store(old) }
}

// detachedBodies is the aws.HTTPClient DetachBodies returns.
//
// It works around a race between smithy-go (v1.28.8) and net/http that
// loses responses. smithy-go wraps the body in a reader whose WriteTo
// returns io.EOF once closed, and closes it as soon as Do returns, that is
// when the response headers arrive. net/http's write loop, after writing
// Content-Length bytes, reads the body once more to check it has no extra
// bytes; when that read comes after the close (the server answered first,
// as fauxqs does at once), net/http takes the io.EOF for a write error and
// closes the connection while the response body is still being read. The
// SDK then fails with "use of closed network connection" and retries: a
// ReceiveMessage retried that way returns nothing, and the messages the
// lost response carried stay invisible until their visibility timeout,
// with their receive count spent.
type detachedBodies struct{ next aws.HTTPClient }

// Do implements aws.HTTPClient.
func (d detachedBodies) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength < 0 || req.ContentLength > MaxDetached {
		return d.next.Do(req)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("aws: read request body: %w", err)
	}
	detached := req.Clone(req.Context())
	detached.Body = io.NopCloser(bytes.NewReader(b))
	detached.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	detached.ContentLength = int64(len(b))
	return d.next.Do(detached)
}
