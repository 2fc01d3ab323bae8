package sqsqueue_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
)

func TestParseURL(t *testing.T) {
	const acct = "123456789012"
	tests := []struct {
		url      string
		want     sqsqueue.Location
		wantOpts sqsqueue.Options
		wantErr  string
	}{
		{url: "sqs://jobs", want: sqsqueue.Location{Name: "jobs"}},
		{url: "SQS://Jobs_2-x/", want: sqsqueue.Location{Name: "Jobs_2-x"}},
		{
			url:      "sqs://jobs?visibility=60s&wait=10",
			want:     sqsqueue.Location{Name: "jobs"},
			wantOpts: sqsqueue.Options{Visibility: time.Minute, MaxWait: 10 * time.Second},
		},
		{url: "sqs://jobs?visibility=90", want: sqsqueue.Location{Name: "jobs"}, wantOpts: sqsqueue.Options{Visibility: 90 * time.Second}},
		{
			url:  "https://sqs.eu-west-1.amazonaws.com/" + acct + "/jobs",
			want: sqsqueue.Location{QueueURL: "https://sqs.eu-west-1.amazonaws.com/" + acct + "/jobs", Region: "eu-west-1"},
		},
		{
			url:      "sqs+https://sqs.eu-west-1.amazonaws.com/" + acct + "/jobs?wait=5s",
			want:     sqsqueue.Location{QueueURL: "https://sqs.eu-west-1.amazonaws.com/" + acct + "/jobs", Region: "eu-west-1"},
			wantOpts: sqsqueue.Options{MaxWait: 5 * time.Second},
		},
		{
			url:  "sqs+https://sqs-fips.us-gov-west-1.amazonaws.com/" + acct + "/jobs",
			want: sqsqueue.Location{QueueURL: "https://sqs-fips.us-gov-west-1.amazonaws.com/" + acct + "/jobs", Region: "us-gov-west-1"},
		},
		{
			url:  "https://sqs.cn-north-1.amazonaws.com.cn/" + acct + "/jobs",
			want: sqsqueue.Location{QueueURL: "https://sqs.cn-north-1.amazonaws.com.cn/" + acct + "/jobs", Region: "cn-north-1"},
		},
		{
			url:  "https://ap-south-1.queue.amazonaws.com/" + acct + "/jobs",
			want: sqsqueue.Location{QueueURL: "https://ap-south-1.queue.amazonaws.com/" + acct + "/jobs", Region: "ap-south-1"},
		},
		{
			url:  "https://queue.amazonaws.com/" + acct + "/jobs",
			want: sqsqueue.Location{QueueURL: "https://queue.amazonaws.com/" + acct + "/jobs", Region: "us-east-1"},
		},
		{
			url:      "sqs+http://localhost:9324/000000000000/jobs?visibility=30s",
			want:     sqsqueue.Location{QueueURL: "http://localhost:9324/000000000000/jobs", Endpoint: "http://localhost:9324"},
			wantOpts: sqsqueue.Options{Visibility: 30 * time.Second},
		},
		{
			url:  "sqs+http://sqs.us-east-1.localhost:4566/000000000000/jobs",
			want: sqsqueue.Location{QueueURL: "http://sqs.us-east-1.localhost:4566/000000000000/jobs", Endpoint: "http://sqs.us-east-1.localhost:4566"},
		},
		{
			url:  "https://vpce-0a1b.sqs.eu-west-1.vpce.amazonaws.com/" + acct + "/jobs",
			want: sqsqueue.Location{QueueURL: "https://vpce-0a1b.sqs.eu-west-1.vpce.amazonaws.com/" + acct + "/jobs", Endpoint: "https://vpce-0a1b.sqs.eu-west-1.vpce.amazonaws.com"},
		},
		{url: "sqs://", wantErr: "1 to 80"},
		{url: "sqs://" + strings.Repeat("n", 81), wantErr: "1 to 80"},
		{url: "sqs://jobs.fifo", wantErr: "FIFO"},
		{url: "sqs://jobs:80", wantErr: "port"},
		{url: "sqs://jobs/extra", wantErr: "without a path"},
		{url: "sqs://user@jobs", wantErr: "user info"},
		{url: "sqs://jobs#x", wantErr: "fragment"},
		{url: "sqs://jobs?visiblity=60s", wantErr: `unknown URL parameter "visiblity"`},
		{url: "sqs://jobs?visibility=1s&visibility=2s", wantErr: "2 times"},
		{url: "sqs://jobs?visibility=soon", wantErr: "visibility"},
		{url: "sqs://jobs?visibility=-5s", wantErr: "negative"},
		{url: "sqs://jobs?visibility=1500ms", wantErr: "whole seconds"},
		{url: "sqs://jobs?visibility=0", wantErr: "visibility=0"},
		{url: "sqs://jobs?visibility=13h", wantErr: "visibility"},
		{url: "sqs://jobs?wait=0", wantErr: "wait=0"},
		{url: "sqs://jobs?wait=21s", wantErr: "wait"},
		{url: "sqs+https://sqs.eu-west-1.amazonaws.com/" + acct, wantErr: "path must be"},
		{url: "sqs+https://sqs.eu-west-1.amazonaws.com/" + acct + "/jobs/x", wantErr: "path must be"},
		{url: "sqs+https://sqs.eu-west-1.amazonaws.com//jobs", wantErr: "path must be"},
		{url: "https://sqs.eu-west-1.amazonaws.com/" + acct + "/jobs.fifo", wantErr: "FIFO"},
		{url: "https://sqs.eu-west-1.amazonaws.com/" + acct + "/bad%20name", wantErr: "may only contain"},
		{url: "sqs+ftp://host/1/jobs", wantErr: "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			loc, opts, err := sqsqueue.ParseURL(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseURL = %+v, %+v, %v; want an error mentioning %q", loc, opts, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if loc != tc.want || opts != tc.wantOpts {
				t.Errorf("ParseURL = %+v, %+v; want %+v, %+v", loc, opts, tc.want, tc.wantOpts)
			}
		})
	}
}

func TestSchemesRegistered(t *testing.T) {
	registered := strings.Join(queue.Schemes(), ",")
	for _, s := range []string{sqsqueue.Scheme, sqsqueue.SchemeHTTPS, sqsqueue.SchemeHTTP, sqsqueue.SchemeURL} {
		if !strings.Contains(","+registered+",", ","+s+",") {
			t.Errorf("scheme %q not registered (registered: %s)", s, registered)
		}
	}
}

// TestOpenRejectsBadURL shows that URL errors surface through queue.Open
// before any AWS configuration or request.
func TestOpenRejectsBadURL(t *testing.T) {
	for _, raw := range []string{"sqs://jobs?nope=1", "sqs+http://host/jobs", "sqs://bad%2Fname"} {
		if q, err := queue.Open(t.Context(), raw); err == nil {
			q.Close()
			t.Errorf("queue.Open(%q) succeeded", raw)
		}
	}
}
