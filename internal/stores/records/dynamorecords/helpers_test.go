package dynamorecords_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/dynamotest"
)

// mode selects the path Create takes for an image with an idempotency key,
// whatever the server implements.
type mode int

const (
	// sequence: TransactWriteItems is answered UnknownOperationException,
	// as dynalite answers it, so Create takes the conditional-write
	// sequence.
	sequence mode = iota
	// transaction: TransactWriteItems goes to the server and, where the
	// server lacks it (dynalite), is emulated in front of it (see
	// txEmulator), so Create takes the transaction path, as on DynamoDB.
	transaction
)

func (m mode) String() string { return [...]string{"Sequence", "Transaction"}[m] }

// env is the AWS configuration of one test and the emulator in front of it.
type env struct {
	cfg aws.Config
	emu *txEmulator
	db  *dynamodb.Client // raw client, for looking at items
}

func newEnv(t *testing.T, m mode) *env {
	t.Helper()
	emu := &txEmulator{inner: http.DefaultClient, mode: m}
	emu.lossy.Inner = emu.inner
	cfg := dynamotest.Config(t, emu)
	return &env{cfg: cfg, emu: emu, db: dynamodb.NewFromConfig(cfg)}
}

// store returns a store on a new table, made by EnsureTable and deleted
// when the test ends.
func (e *env) store(t *testing.T, opts dynamorecords.Options) *dynamorecords.Store {
	t.Helper()
	s := e.storeOn(t, awstest.Name("records"), opts)
	dynamotest.EnsureTable(t, e.db, s.Table(), s.EnsureTable)
	return s
}

// storeOn returns a store on an existing (or missing) table.
func (e *env) storeOn(t *testing.T, table string, opts dynamorecords.Options) *dynamorecords.Store {
	t.Helper()
	s, err := dynamorecords.New(context.Background(), e.cfg, table, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// item reads a raw item, nil if it does not exist.
func (e *env) item(t *testing.T, table, pk string) map[string]types.AttributeValue {
	t.Helper()
	return dynamotest.Item(t, e.db, table, pk)
}

// put writes a raw item, as a writer that died half-way would leave it.
func (e *env) put(t *testing.T, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := e.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
		t.Fatal(err)
	}
}

// txEmulator is the HTTP client of the SDK in these tests. It counts the
// TransactWriteItems calls and handles them as its mode says. Emulated, a
// transaction is carried out as a sequence of conditional PutItems, undone if
// one fails, under a lock that keeps every other request out meanwhile:
// atomic, as on DynamoDB; cancellation reasons are reported in DynamoDB's
// format. Only the Put and Update actions the store uses are supported.
//
// Other requests go through lossy, whose LoseReply makes it lose the
// replies of requests that have been carried out, as a network might, so
// that the SDK retries them.
type txEmulator struct {
	inner    *http.Client
	lossy    dynamotest.Lossy
	mode     mode
	txCalls  atomic.Int32
	noNative atomic.Bool // the server lacks TransactWriteItems: emulate
	mu       sync.RWMutex
}

// Do implements the SDK's HTTPClient.
func (e *txEmulator) Do(req *http.Request) (*http.Response, error) {
	op := dynamotest.Operation(req)
	if op != "TransactWriteItems" {
		e.mu.RLock()
		defer e.mu.RUnlock()
		return e.lossy.Do(req)
	}
	e.txCalls.Add(1)
	if e.mode == sequence {
		return dynamotest.Respond(req, http.StatusBadRequest, []byte(`{"__type":"com.amazon.coral.service#UnknownOperationException"}`)), nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	if !e.noNative.Load() {
		resp, err := e.forward(req, op, body)
		if err != nil {
			return nil, err
		}
		reply, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(reply, []byte("UnknownOperationException")) {
			resp.Body = io.NopCloser(bytes.NewReader(reply))
			return resp, nil
		}
		e.noNative.Store(true)
	}
	return e.emulate(req, body)
}

// emulate carries out a TransactWriteItems request of Puts and Updates on
// a server without transactions: each item is read before it is written, so
// that a cancelled transaction can put back what it had written.
func (e *txEmulator) emulate(req *http.Request, body []byte) (*http.Response, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var in struct {
		TransactItems []map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	type action struct {
		TableName string
		Item      map[string]json.RawMessage
		Key       map[string]json.RawMessage
	}
	type written struct {
		table string
		key   map[string]json.RawMessage
		old   json.RawMessage // the item before, null if there was none
	}
	var done []written
	undo := func() {
		for _, w := range slices.Backward(done) {
			op, body := "DeleteItem", map[string]any{"TableName": w.table, "Key": w.key}
			if len(w.old) > 0 && string(w.old) != "null" {
				op, body = "PutItem", map[string]any{"TableName": w.table, "Item": w.old}
			}
			raw, _ := json.Marshal(body)
			if resp, err := e.forward(req, op, raw); err == nil {
				resp.Body.Close()
			}
		}
	}
	reasons := make([]map[string]string, len(in.TransactItems))
	for i := range reasons {
		reasons[i] = map[string]string{"Code": "None"}
	}
	for i, act := range in.TransactItems {
		op, raw := "PutItem", act["Put"]
		if u, ok := act["Update"]; ok {
			op, raw = "UpdateItem", u
		}
		if raw == nil || len(act) != 1 {
			undo()
			return nil, fmt.Errorf("txEmulator: only Put and Update actions are emulated, got %s", act)
		}
		var a action
		if err := json.Unmarshal(raw, &a); err != nil {
			undo()
			return nil, err
		}
		key := a.Key
		if key == nil {
			key = map[string]json.RawMessage{"pk": a.Item["pk"]}
		}
		old, err := e.getRaw(req, a.TableName, key)
		if err != nil {
			undo()
			return nil, err
		}
		resp, err := e.forward(req, op, raw)
		if err != nil {
			undo()
			return nil, err
		}
		if resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			done = append(done, written{table: a.TableName, key: key, old: old})
			continue
		}
		errBody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		undo()
		if !strings.Contains(string(errBody), "ConditionalCheckFailedException") {
			return dynamotest.Respond(req, resp.StatusCode, errBody), nil
		}
		reasons[i] = map[string]string{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
		codes := make([]string, len(reasons))
		for j, r := range reasons {
			codes[j] = r["Code"]
		}
		out, _ := json.Marshal(map[string]any{
			"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
			"message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
			"CancellationReasons": reasons,
		})
		return dynamotest.Respond(req, http.StatusBadRequest, out), nil
	}
	return dynamotest.Respond(req, http.StatusOK, []byte("{}")), nil
}

// getRaw reads an item consistently, as the JSON of its attributes (null
// when there is none).
func (e *txEmulator) getRaw(req *http.Request, table string, key map[string]json.RawMessage) (json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	resp, err := e.forward(req, "GetItem", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("txEmulator: GetItem: HTTP %d: %s", resp.StatusCode, reply)
	}
	var out struct{ Item json.RawMessage }
	if err := json.Unmarshal(reply, &out); err != nil {
		return nil, err
	}
	return out.Item, nil
}

// forward sends body to the server as operation op, with the headers of req
// (dynalite checks that a signature is there, not that it is right).
func (e *txEmulator) forward(req *http.Request, op string, body []byte) (*http.Response, error) {
	r, err := http.NewRequestWithContext(req.Context(), http.MethodPost, req.URL.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header = req.Header.Clone()
	r.Header.Set("X-Amz-Target", dynamotest.TargetPrefix+op)
	r.Header.Del("Content-Length")
	return e.inner.Do(r)
}
