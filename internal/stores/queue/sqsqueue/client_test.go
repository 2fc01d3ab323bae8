package sqsqueue_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
)

// request is what the stub server saw of a GetQueueAttributes call.
type request struct {
	queueURL string
	region   string // of the SigV4 credential scope
}

// stubSQS answers GetQueueAttributes for any queue with a standard queue's
// attributes and records the requests.
func stubSQS(t *testing.T) (*httptest.Server, func() []request) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ QueueUrl string }
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.GetQueueAttributes" || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		// Credential=AKID/20260101/<region>/sqs/aws4_request
		scope := strings.Split(r.Header.Get("Authorization"), "/")
		region := ""
		if len(scope) > 2 {
			region = scope[2]
		}
		mu.Lock()
		seen = append(seen, request{queueURL: in.QueueUrl, region: region})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"Attributes":{"QueueArn":"arn:aws:sqs:us-east-1:000000000000:jobs","DelaySeconds":"0","ReceiveMessageWaitTimeSeconds":"0"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

// TestEndpointAndRegion checks where New sends requests and which region
// signs them, with no AWS server involved.
func TestEndpointAndRegion(t *testing.T) {
	srv, seen := stubSQS(t)
	tests := []struct {
		name       string
		endpoint   string // of the config; "" for none
		queueURL   string
		wantRegion string
	}{
		{"a non-AWS URL names its endpoint", "", srv.URL + "/000000000000/jobs", "us-east-1"},
		{"a configured endpoint wins over the URL's host", srv.URL, "http://sqs.us-east-1.localhost:1/000000000000/jobs", "us-east-1"},
		{"an AWS URL sets the region", srv.URL, "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "eu-west-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := aws.Config{
				Region:      "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			}
			if tc.endpoint != "" {
				cfg.BaseEndpoint = aws.String(tc.endpoint)
			}
			before := len(seen())
			q, err := sqsqueue.New(t.Context(), cfg, tc.queueURL, sqsqueue.Options{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			q.Close()
			got := seen()[before:]
			if len(got) != 1 || got[0].queueURL != tc.queueURL || got[0].region != tc.wantRegion {
				t.Errorf("stub saw %+v, want one request for %s signed for %s", got, tc.queueURL, tc.wantRegion)
			}
		})
	}
}

// captureClient is an aws.HTTPClient that keeps the request it gets and
// answers GetQueueAttributes for a standard queue.
type captureClient struct{ req *http.Request }

func (c *captureClient) Do(req *http.Request) (*http.Response, error) {
	c.req = req
	body := `{"Attributes":{"QueueArn":"arn:aws:sqs:us-east-1:000000000000:jobs"}}`
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}, nil
}

// TestRequestBodySurvivesTheSDK guards the detached request bodies: the
// SDK closes the body it built once Do returns, while net/http may still
// read it (its check for bytes beyond Content-Length). The body the HTTP
// client got must still read to a clean EOF then; the SDK's own body
// reports io.EOF as an error from WriteTo, which makes net/http drop the
// connection under the response.
func TestRequestBodySurvivesTheSDK(t *testing.T) {
	c := &captureClient{}
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String("http://sqs.invalid"),
		HTTPClient:   c,
	}
	q, err := sqsqueue.New(t.Context(), cfg, "http://sqs.invalid/000000000000/jobs", sqsqueue.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	q.Close()
	if c.req == nil || c.req.Body == nil {
		t.Fatal("no request body reached the HTTP client")
	}
	n, err := io.Copy(io.Discard, c.req.Body)
	if err != nil || n != c.req.ContentLength || n == 0 {
		t.Errorf("reading the request body after the call = %d bytes, %v; want its %d bytes and no error", n, err, c.req.ContentLength)
	}
}
