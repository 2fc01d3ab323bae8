package sqsqueue_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// attributesOf reads every attribute of a queue with the plain SDK.
func attributesOf(t *testing.T, client *sqs.Client, queueURL string) map[string]string {
	t.Helper()
	out, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes(%s): %v", queueURL, err)
	}
	return out.Attributes
}

// redriveOf decodes a queue's RedrivePolicy; maxReceiveCount may come back
// as a number or a string.
func redriveOf(t *testing.T, attrs map[string]string) (dlqARN string, maxReceive string) {
	t.Helper()
	var p struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs["RedrivePolicy"]), &p); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", attrs["RedrivePolicy"], err)
	}
	return p.DeadLetterTargetArn, strings.Trim(string(p.MaxReceiveCount), `"`)
}

func TestEnsureIsIdempotentAndSetsRedrive(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	client := sqs.NewFromConfig(cfg)
	name, queueURL, dlqURL := ensure(t, cfg, 4, 45*time.Second)

	againURL, againDLQ, err := sqsqueue.Ensure(t.Context(), cfg, name, 4, 45*time.Second)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if againURL != queueURL || againDLQ != dlqURL {
		t.Errorf("second Ensure = %s, %s; want the first's %s, %s", againURL, againDLQ, queueURL, dlqURL)
	}
	if !strings.HasSuffix(dlqURL, "/"+name+sqsqueue.DLQSuffix) {
		t.Errorf("DLQ URL %s does not name %s%s", dlqURL, name, sqsqueue.DLQSuffix)
	}

	attrs, dlqAttrs := attributesOf(t, client, queueURL), attributesOf(t, client, dlqURL)
	arn, maxReceive := redriveOf(t, attrs)
	if arn != dlqAttrs["QueueArn"] || maxReceive != "4" {
		t.Errorf("RedrivePolicy = %s, want deadLetterTargetArn %s and maxReceiveCount 4", attrs["RedrivePolicy"], dlqAttrs["QueueArn"])
	}
	want := map[string]string{"VisibilityTimeout": "45", "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0", "MaximumMessageSize": "1048576"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("queue %s = %q, want %q", k, attrs[k], v)
		}
	}
	if got := dlqAttrs["MessageRetentionPeriod"]; got != "1209600" {
		t.Errorf("DLQ MessageRetentionPeriod = %q, want 1209600 (14 days)", got)
	}
	if _, ok := dlqAttrs["RedrivePolicy"]; ok && dlqAttrs["RedrivePolicy"] != "" {
		t.Errorf("DLQ has a RedrivePolicy %q", dlqAttrs["RedrivePolicy"])
	}
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	if q.MaxReceive() != 4 {
		t.Errorf("MaxReceive() = %d, want 4", q.MaxReceive())
	}
}

// TestEnsureUpdates shows that Ensure brings an existing queue to the
// asked configuration, including dropping the redrive policy.
func TestEnsureUpdates(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	client := sqs.NewFromConfig(cfg)
	name, queueURL, dlqURL := ensure(t, cfg, 3, 30*time.Second)

	u, d, err := sqsqueue.Ensure(t.Context(), cfg, name, 6, time.Minute)
	if err != nil || u != queueURL || d != dlqURL {
		t.Fatalf("Ensure with new settings = %s, %s, %v; want %s, %s", u, d, err, queueURL, dlqURL)
	}
	attrs := attributesOf(t, client, queueURL)
	if _, maxReceive := redriveOf(t, attrs); maxReceive != "6" || attrs["VisibilityTimeout"] != "60" {
		t.Errorf("after update: RedrivePolicy %s, VisibilityTimeout %s; want maxReceiveCount 6, 60", attrs["RedrivePolicy"], attrs["VisibilityTimeout"])
	}

	u, d, err = sqsqueue.Ensure(t.Context(), cfg, name, 0, time.Minute)
	if err != nil || u != queueURL || d != "" {
		t.Fatalf("Ensure without redrive = %s, %q, %v; want %s and no DLQ", u, d, err, queueURL)
	}
	if p := attributesOf(t, client, queueURL)["RedrivePolicy"]; p != "" {
		t.Errorf("RedrivePolicy = %q after Ensure with max receive 0, want none", p)
	}
	if q := open(t, cfg, queueURL, sqsqueue.Options{}); q.MaxReceive() != 0 {
		t.Errorf("MaxReceive() = %d, want 0", q.MaxReceive())
	}
}

// TestEnsureRejects checks arguments before any request: the zero config
// has no endpoint or credentials, so a request would fail differently.
func TestEnsureRejects(t *testing.T) {
	tests := []struct {
		name       string
		queue      string
		maxReceive int
		visibility time.Duration
		want       string
	}{
		{"empty name", "", 3, time.Minute, "1 to 80"},
		{"bad name", "a b", 3, time.Minute, "may only contain"},
		{"fifo", "jobs.fifo", 3, time.Minute, "FIFO"},
		{"dlq name too long", strings.Repeat("n", 77), 3, time.Minute, "1 to 80"},
		{"negative max receive", "jobs", -1, time.Minute, "max receive"},
		{"max receive too large", "jobs", 1001, time.Minute, "max receive"},
		{"fractional visibility", "jobs", 3, 1500 * time.Millisecond, "whole seconds"},
		{"visibility too long", "jobs", 3, 13 * time.Hour, "whole seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := sqsqueue.Ensure(t.Context(), aws.Config{}, tc.queue, tc.maxReceive, tc.visibility)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ensure = %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(tc.want, "max receive") || strings.Contains(tc.want, "whole seconds") {
				if !errors.Is(err, queue.ErrInvalidArgument) {
					t.Errorf("Ensure = %v, want ErrInvalidArgument", err)
				}
			}
		})
	}
}
