// Package dynamotest holds the test helpers the DynamoDB drivers share:
// configuration for the local dynalite server (through awstest), raw item
// reads, tables made for one test and deleted after it, and an HTTP client
// that loses replies so that the SDK retries writes.
package dynamotest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// Config returns the AWS configuration of the local DynamoDB server (or
// skips the test, see awstest.Config), sending requests through hc, with
// the SDK's standard retries at short pauses: tests lose replies.
func Config(t testing.TB, hc aws.HTTPClient) aws.Config {
	t.Helper()
	cfg := awstest.Config(t, "DYNAMODB")
	cfg.HTTPClient = hc
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.NewExponentialJitterBackoff(50 * time.Millisecond)
		})
	}
	return cfg
}

// Env is the AWS configuration of one test, whose HTTP client Lossy can
// lose replies, and a raw client DB for looking at items.
type Env struct {
	Cfg   aws.Config
	Lossy *Lossy
	DB    *dynamodb.Client
}

// NewEnv returns a test's Env (or skips the test, see Config).
func NewEnv(t testing.TB) *Env {
	t.Helper()
	lossy := &Lossy{}
	cfg := Config(t, lossy)
	return &Env{Cfg: cfg, Lossy: lossy, DB: dynamodb.NewFromConfig(cfg)}
}

// EnsureTable runs ensure, a store's EnsureTable, within 30 seconds, failing
// the test on error, and deletes table when the test ends.
func EnsureTable(t testing.TB, db *dynamodb.Client, table string, ensure func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ensure(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
}

// PlainTable creates a new table whose key is pk (S) alone, without
// indexes, deleted when the test ends, and returns its name.
func PlainTable(t testing.TB, db *dynamodb.Client, prefix string) string {
	t.Helper()
	table := awstest.Name(prefix)
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            &table,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	})
	return table
}

// Item reads the item whose pk is pk consistently, nil if it does not
// exist.
func Item(t testing.TB, db *dynamodb.Client, table, pk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      &table,
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		return nil
	}
	return out.Item
}

// Num returns the integer attribute name of item, false if it has none; a
// number that is no integer fails the test.
func Num(t testing.TB, item map[string]types.AttributeValue, name string) (int64, bool) {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		t.Fatalf("%s = %q, not an integer", name, v.Value)
	}
	return n, true
}

// TargetPrefix is what precedes the operation in a DynamoDB request's
// X-Amz-Target header.
const TargetPrefix = "DynamoDB_20120810."

// Operation returns the DynamoDB operation of a request, such as "PutItem".
func Operation(req *http.Request) string {
	return strings.TrimPrefix(req.Header.Get("X-Amz-Target"), TargetPrefix)
}

// Lossy is an HTTP client for the SDK that sends requests through Inner
// (nil: http.DefaultClient) and loses the replies LoseReply asks it to: the
// server carries the request out, and the SDK sees an InternalServerError
// and retries it, as after a reply lost on the network.
type Lossy struct {
	Inner *http.Client

	mu   sync.Mutex
	lose map[string]int // operation -> replies still to lose
}

// LoseReply makes the next n successful replies to operation op lost.
func (c *Lossy) LoseReply(op string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lose == nil {
		c.lose = map[string]int{}
	}
	c.lose[op] = n
}

// Pending returns how many replies to op are still to be lost.
func (c *Lossy) Pending(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lose[op]
}

// lost reports whether the reply to op is to be lost, counting it.
func (c *Lossy) lost(op string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lose[op] == 0 {
		return false
	}
	c.lose[op]--
	return true
}

// Do implements aws.HTTPClient.
func (c *Lossy) Do(req *http.Request) (*http.Response, error) {
	inner := c.Inner
	if inner == nil {
		inner = http.DefaultClient
	}
	resp, err := inner.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK || !c.lost(Operation(req)) {
		return resp, err
	}
	resp.Body.Close()
	return Respond(req, http.StatusInternalServerError,
		[]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"reply lost by the test"}`)), nil
}

// Respond returns a DynamoDB reply to req with status and a JSON body.
func Respond(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{
		StatusCode:    status,
		Status:        http.StatusText(status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
