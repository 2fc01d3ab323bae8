package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// stackName is the stack's name prefix of queues and tables (ImagepipeStack's default).
const stackName = "imagepipe"

// table is the layout of one DynamoDB table, as the template declares it
// and as init creates it.
type table struct {
	Key         string            // partition key (the only key)
	Attrs       map[string]string // attribute definitions: name → S, N or B
	Indexes     map[string]index  // global secondary indexes
	BillingMode string
	TTL         string // Time to Live attribute; "" for none
}

type index struct{ Hash, Range, Projection string }

// TestTablesMatchInit runs `imagepipe init` (app.Init) against dynalite,
// MinIO and fauxqs and compares the tables it creates (DescribeTable, and
// the billing mode and Time to Live it asks for) and the job, dead-letter
// and events queues (GetQueueAttributes) with the synthesized stack's.
func TestTablesMatchInit(t *testing.T) {
	res := loadTemplate(t)
	awstest.Config(t, "S3")
	awstest.Config(t, "SQS")
	ddb := awstest.Config(t, "DYNAMODB")
	rec := recordDynamo(t)
	prefix := awstest.Name("cdk")
	cfg := app.DefaultConfig()
	cfg.OriginalsURL = "s3://" + prefix + "-originals"
	cfg.VariantsURL = "s3://" + prefix + "-variants"
	cfg.QueueURL = "sqs://" + prefix + "-jobs"
	cfg.EventsURL = "sqs://" + prefix + "-events"
	cfg.StatusURL = "dynamodb://" + prefix + "-images"
	cfg.URLSigningKeys = urlsign.GenerateKey()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := app.Init(ctx, cfg, io.Discard); err != nil {
		t.Fatalf("init: %v", err)
	}
	got := map[string]table{}
	db := dynamodb.NewFromConfig(ddb)
	for _, suffix := range []string{"-images", "-images-tenants", "-images-webhooks"} {
		got[suffix] = describe(ctx, t, db, rec, prefix+suffix)
		t.Cleanup(func() {
			db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: awssdk.String(prefix + suffix)})
		})
	}
	want := templateTables(t, res)
	if !reflect.DeepEqual(got, want) {
		for s := range merged(got, want) {
			if !reflect.DeepEqual(got[s], want[s]) {
				t.Errorf("table <name>%s:\ninit creates %+v\nthe stack   %+v", s, got[s], want[s])
			}
		}
	}
	compareQueues(ctx, t, res, prefix)
}

func merged(a, b map[string]table) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// describe reads a table's layout from DynamoDB; dynalite reports neither
// billing mode nor Time to Live, so those come from what init asked for.
func describe(ctx context.Context, t *testing.T, db *dynamodb.Client, rec *recorder, name string) table {
	t.Helper()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: awssdk.String(name)})
	if err != nil {
		t.Fatalf("describe %s: %v", name, err)
	}
	d := out.Table
	tb := table{Attrs: map[string]string{}, Indexes: map[string]index{}}
	for _, k := range d.KeySchema {
		tb.Key += string(k.KeyType) + ":" + awssdk.ToString(k.AttributeName)
	}
	for _, a := range d.AttributeDefinitions {
		tb.Attrs[awssdk.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	for _, ix := range d.GlobalSecondaryIndexes {
		var i index
		for _, k := range ix.KeySchema {
			if k.KeyType == "HASH" {
				i.Hash = awssdk.ToString(k.AttributeName)
			} else {
				i.Range = awssdk.ToString(k.AttributeName)
			}
		}
		if ix.Projection != nil {
			i.Projection = string(ix.Projection.ProjectionType)
		}
		tb.Indexes[awssdk.ToString(ix.IndexName)] = i
	}
	tb.BillingMode, tb.TTL = rec.asked(name)
	return tb
}

// templateTables reads the template's tables, keyed by name without the
// stack's prefix.
func templateTables(t *testing.T, res map[string]resource) map[string]table {
	type keyElem struct{ AttributeName, KeyType string }
	type props struct {
		TableName              string
		KeySchema              []keyElem
		AttributeDefinitions   []struct{ AttributeName, AttributeType string }
		GlobalSecondaryIndexes []struct {
			IndexName  string
			KeySchema  []keyElem
			Projection struct{ ProjectionType string }
		}
		BillingMode             string
		TimeToLiveSpecification *struct {
			AttributeName string
			Enabled       bool
		}
	}
	out := map[string]table{}
	for id, p := range ofType[props](t, res, "AWS::DynamoDB::Table") {
		suffix, ok := strings.CutPrefix(p.TableName, stackName)
		if !ok {
			t.Fatalf("%s: table name %q does not start with %q", id, p.TableName, stackName)
		}
		tb := table{Attrs: map[string]string{}, Indexes: map[string]index{}, BillingMode: p.BillingMode}
		for _, k := range p.KeySchema {
			tb.Key += k.KeyType + ":" + k.AttributeName
		}
		for _, a := range p.AttributeDefinitions {
			tb.Attrs[a.AttributeName] = a.AttributeType
		}
		for _, ix := range p.GlobalSecondaryIndexes {
			i := index{Projection: ix.Projection.ProjectionType}
			for _, k := range ix.KeySchema {
				if k.KeyType == "HASH" {
					i.Hash = k.AttributeName
				} else {
					i.Range = k.AttributeName
				}
			}
			tb.Indexes[ix.IndexName] = i
		}
		if s := p.TimeToLiveSpecification; s != nil && s.Enabled {
			tb.TTL = s.AttributeName
		}
		out[suffix] = tb
	}
	return out
}

// compareQueues compares the attributes sqsqueue.Ensure gives the job
// queue, its dead-letter queue and the events queue with the template's.
func compareQueues(ctx context.Context, t *testing.T, res map[string]resource, prefix string) {
	type props struct {
		QueueName                     string
		VisibilityTimeout             *int
		MaximumMessageSize            *int
		ReceiveMessageWaitTimeSeconds *int
		MessageRetentionPeriod        *int
		RedrivePolicy                 *struct {
			MaxReceiveCount int `json:"maxReceiveCount"`
		}
	}
	// Attributes as SQS reports them; an unset one is SQS's default.
	attrs := func(p props) map[string]string {
		n := func(v *int, def int) string {
			if v == nil {
				return strconv.Itoa(def)
			}
			return strconv.Itoa(*v)
		}
		m := map[string]string{
			"VisibilityTimeout":             n(p.VisibilityTimeout, 30),
			"MaximumMessageSize":            n(p.MaximumMessageSize, 262144),
			"ReceiveMessageWaitTimeSeconds": n(p.ReceiveMessageWaitTimeSeconds, 0),
			"MessageRetentionPeriod":        n(p.MessageRetentionPeriod, 345600),
			"maxReceiveCount":               "none",
		}
		if p.RedrivePolicy != nil {
			m["maxReceiveCount"] = strconv.Itoa(p.RedrivePolicy.MaxReceiveCount)
		}
		return m
	}
	want := map[string]map[string]string{}
	for _, p := range ofType[props](t, res, "AWS::SQS::Queue") {
		want[strings.TrimPrefix(p.QueueName, stackName)] = attrs(p)
	}
	client := sqs.NewFromConfig(awstest.Config(t, "SQS"))
	for suffix, w := range want {
		name := prefix + suffix
		u, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
		if err != nil {
			t.Errorf("queue <name>%s is in the stack; init made none: %v", suffix, err)
			continue
		}
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{"maxReceiveCount": "none"}
		for k := range w {
			if v, ok := out.Attributes[k]; ok {
				got[k] = v
			}
		}
		if rp := out.Attributes["RedrivePolicy"]; rp != "" {
			var p struct {
				MaxReceiveCount json.Number `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(rp), &p); err != nil {
				t.Fatalf("%s redrive policy %q: %v", name, rp, err)
			}
			got["maxReceiveCount"] = p.MaxReceiveCount.String()
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("queue <name>%s:\ninit creates %v\nthe stack   %v", suffix, got, w)
		}
	}
	if len(want) != 3 {
		t.Errorf("the stack has queues %v, want the job queue, its dead-letter queue and the events queue", want)
	}
}

// recorder is a proxy in front of dynalite that keeps what CreateTable and
// UpdateTimeToLive asked for, per table.
type recorder struct {
	mu      sync.Mutex
	billing map[string]string
	ttl     map[string]string
}

func (r *recorder) asked(name string) (billing, ttl string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.billing[name], r.ttl[name]
}

// recordDynamo starts the recording proxy and points the process's
// DynamoDB endpoint at it for the test.
func recordDynamo(t *testing.T) *recorder {
	target, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{billing: map[string]string{}, ttl: map[string]string{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.note(req.Header.Get("X-Amz-Target"), body)
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)
	return r
}

func (r *recorder) note(op string, body []byte) {
	var in struct {
		TableName               string
		BillingMode             string
		TimeToLiveSpecification struct {
			AttributeName string
			Enabled       bool
		}
	}
	if json.Unmarshal(body, &in) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case strings.HasSuffix(op, ".CreateTable"):
		r.billing[in.TableName] = in.BillingMode
	case strings.HasSuffix(op, ".UpdateTimeToLive") && in.TimeToLiveSpecification.Enabled:
		r.ttl[in.TableName] = in.TimeToLiveSpecification.AttributeName
	}
}
