package dynamorecords_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		table   string
		ttl     time.Duration
		wantErr string // substring of the error; "" for success
	}{
		{url: "dynamodb://images", table: "images"},
		{url: "dynamodb://images/", table: "images"},
		{url: "dynamodb://Prod_Images-v2.eu", table: "Prod_Images-v2.eu"},
		{url: "dynamodb://images?ttl=720h", table: "images", ttl: 720 * time.Hour},
		{url: "dynamodb://images?ttl=90m", table: "images", ttl: 90 * time.Minute},
		{url: "DynamoDB://images", table: "images"},
		{url: "dynamodb://", wantErr: "invalid table name"},
		{url: "dynamodb://ab", wantErr: "invalid table name"},
		{url: "dynamodb://" + strings.Repeat("t", 256), wantErr: "invalid table name"},
		{url: "dynamodb:///images", wantErr: "a path is not allowed"},
		{url: "dynamodb://images/extra", wantErr: "a path is not allowed"},
		{url: "dynamodb:images", wantErr: "want dynamodb://TABLE"},
		{url: "dynamodb://images:8000", wantErr: "a port is not allowed"},
		{url: "dynamodb://key:secret@images", wantErr: "user info is not allowed"},
		{url: "dynamodb://images#frag", wantErr: "a fragment is not allowed"},
		{url: "dynamodb://images?region=eu-west-1", wantErr: `unknown parameter "region"`},
		{url: "dynamodb://images?ttl=1h&ttl=2h", wantErr: "given 2 times"},
		{url: "dynamodb://images?ttl=30", wantErr: "not a positive duration"},
		{url: "dynamodb://images?ttl=-1h", wantErr: "not a positive duration"},
		{url: "dynamodb://images?ttl=0s", wantErr: "not a positive duration"},
		{url: "dynamodb://images?ttl=%zz", wantErr: "query"},
		{url: "sqlite://images", wantErr: "scheme is not dynamodb"},
	} {
		name := tc.url
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		t.Run(name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			table, opts, err := dynamorecords.ParseURL(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseURL = %q, %+v, %v; want an error containing %q", table, opts, err, tc.wantErr)
				}
				return
			}
			if err != nil || table != tc.table || opts.TTL != tc.ttl {
				t.Fatalf("ParseURL = %q, ttl %v, %v; want %q, ttl %v", table, opts.TTL, err, tc.table, tc.ttl)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	if !slices.Contains(records.Schemes(), "dynamodb") {
		t.Fatalf("schemes %v lack dynamodb", records.Schemes())
	}
	if s, err := records.Open(context.Background(), "dynamodb://images?colour=blue"); err == nil {
		s.Close()
		t.Fatal("records.Open accepted an unknown parameter")
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1"}
	if _, err := dynamorecords.New(context.Background(), cfg, "x", dynamorecords.Options{}); err == nil {
		t.Error("New accepted the table name \"x\"")
	}
	if _, err := dynamorecords.New(context.Background(), cfg, "images", dynamorecords.Options{TTL: -time.Hour}); err == nil {
		t.Error("New accepted a negative TTL")
	}
}

// Tokens are checked before any request is made, so no server is needed.
func TestInvalidPageTokens(t *testing.T) {
	s, err := dynamorecords.New(context.Background(), aws.Config{Region: "us-east-1"}, "images", dynamorecords.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, token := range map[string]string{
		"not base64":    "not a token!",
		"not json":      b64("v1:0190"),
		"version 2":     b64(`{"v":2,"k":{"batch_id":"b","pk":"img#1"}}`),
		"other batch":   b64(`{"v":1,"k":{"batch_id":"other","pk":"img#1"}}`),
		"key item":      b64(`{"v":1,"k":{"batch_id":"b","pk":"key#1"}}`),
		"empty id":      b64(`{"v":1,"k":{"batch_id":"b","pk":"img#"}}`),
		"extra key":     b64(`{"v":1,"k":{"batch_id":"b","pk":"img#1","x":"y"}}`),
		"std base64":    base64.StdEncoding.EncodeToString([]byte(`{"v":1,"k":{"batch_id":"b","pk":"img#1"}}`)),
		"missing key":   b64(`{"v":1}`),
		"missing batch": b64(`{"v":1,"k":{"pk":"img#1"}}`),
	} {
		if _, err := s.ListByBatch(context.Background(), "", "b", 10, token); !errors.Is(err, records.ErrInvalidToken) {
			t.Errorf("%s: ListByBatch = %v, want ErrInvalidToken", name, err)
		}
	}
}
