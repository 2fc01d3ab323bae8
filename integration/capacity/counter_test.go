package capacity_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
)

// counter counts the requests the AWS clients built while it is installed
// (awsutil.WrapClients) send, by label: service, operation and the role of
// the bucket, queue or table, e.g. "S3 PutObject variants".
type counter struct {
	mu sync.Mutex
	n  counts
}

// counts are request counts by label.
type counts map[string]int

func newCounter() *counter { return &counter{n: counts{}} }

// wrap is the function given to awsutil.WrapClients.
func (c *counter) wrap(next aws.HTTPClient) aws.HTTPClient {
	return countingClient{c: c, next: next}
}

// snapshot returns a copy of the counts so far.
func (c *counter) snapshot() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

func (c *counter) add(label string) {
	c.mu.Lock()
	c.n[label]++
	c.mu.Unlock()
}

// minus returns the counts of a that are not in b (a and b from the same
// counter, b taken first); labels whose difference is zero are left out.
func (a counts) minus(b counts) counts {
	out := counts{}
	for k, v := range a {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// labels returns the labels of every counts given, sorted.
func labels(cs ...counts) []string {
	seen := map[string]bool{}
	for _, c := range cs {
		for k := range c {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

type countingClient struct {
	c    *counter
	next aws.HTTPClient
}

// Do sends req and counts it once it is answered (or failed).
func (cc countingClient) Do(req *http.Request) (*http.Response, error) {
	resource, probe := resourceOf(req)
	resp, err := cc.next.Do(req)
	op := awsmiddleware.GetOperationName(req.Context())
	svc := awsmiddleware.GetServiceID(req.Context())
	label := svc + " " + op
	if resource != "" {
		label += " " + resource
	}
	switch {
	case probe:
		label += " (readiness probe)"
	case err != nil:
		label += " (failed)"
	case resp.StatusCode >= 400:
		label += " (HTTP 4xx/5xx)"
	case op == "ReceiveMessage" && emptyReceive(resp):
		label += " (empty)"
	}
	cc.c.add(label)
	return resp, err
}

// emptyReceive reports whether a ReceiveMessage answer carried no message;
// it leaves resp's body readable.
func emptyReceive(resp *http.Response) bool {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return false
	}
	var v struct{ Messages []json.RawMessage }
	if json.Unmarshal(b, &v) == nil {
		return len(v.Messages) == 0
	}
	return !bytes.Contains(b, []byte("<Message>")) // the query protocol
}

// nameInBody finds the queue URL or table name of an SQS or DynamoDB
// request (JSON protocols).
var nameInBody = regexp.MustCompile(`"(?:QueueUrl|TableName)":"([^"]+)"`)

// probeKey is the key the readiness checks look up (internal/app's
// probeKey): what they send is told apart by it.
const probeKey = "imagepipe-readiness-probe"

// resourceOf is the role of the bucket, queue or table req is for: the
// name the test gave it without its random part ("originals", "jobs-dlq",
// "images-tenants"), or "" when the request names none; and whether req is
// a readiness check's lookup.
func resourceOf(req *http.Request) (resource string, probe bool) {
	if awsmiddleware.GetServiceID(req.Context()) == "S3" {
		// path-style on the loopback server: /bucket/key
		name, key, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
		return role(name), strings.HasSuffix(key, probeKey)
	}
	if req.GetBody == nil {
		return "", false
	}
	body, err := req.GetBody()
	if err != nil {
		return "", false
	}
	b, _ := io.ReadAll(body)
	m := nameInBody.FindSubmatch(b)
	if m == nil {
		return "", false
	}
	name := string(m[1])
	return role(name[strings.LastIndex(name, "/")+1:]), bytes.Contains(b, []byte(probeKey))
}

// role drops the random part awstest.Name puts after the first dash.
func role(name string) string {
	parts := strings.Split(name, "-")
	if len(parts) < 2 {
		return name
	}
	return strings.Join(append(parts[:1:1], parts[2:]...), "-")
}
