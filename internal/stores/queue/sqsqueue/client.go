package sqsqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
)

// newClient returns an SQS client for cfg, adjusted by loc: the region of
// an AWS queue URL, the endpoint of another queue URL when cfg (or
// AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, the config file) sets none. Its
// HTTP client detaches request bodies (see awsutil.DetachBodies).
func newClient(cfg aws.Config, loc Location) *sqs.Client {
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.HTTPClient = awsutil.DetachBodies(o.HTTPClient)
		if loc.Region != "" {
			o.Region = loc.Region
		}
		if loc.Endpoint != "" && o.BaseEndpoint == nil {
			o.BaseEndpoint = aws.String(loc.Endpoint)
		}
	})
}

// lookup returns the URL of the queue called name.
func lookup(ctx context.Context, client *sqs.Client, name string) (string, error) {
	out, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("sqsqueue: get URL of queue %q: %w", name, mapError(err))
	}
	return aws.ToString(out.QueueUrl), nil
}

// attributes are the queue attributes the driver depends on.
type attributes struct {
	arn          string
	fifo         bool
	delaySeconds int64
	waitSeconds  int64
	maxSize      int64
	maxReceive   int
	dlqARN       string
}

// readAttributes reads a queue's attributes; a missing queue yields an
// error wrapping ErrQueueDoesNotExist.
func readAttributes(ctx context.Context, client *sqs.Client, queueURL string) (attributes, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameQueueArn,
			types.QueueAttributeNameFifoQueue,
			types.QueueAttributeNameDelaySeconds,
			types.QueueAttributeNameReceiveMessageWaitTimeSeconds,
			types.QueueAttributeNameMaximumMessageSize,
			types.QueueAttributeNameRedrivePolicy,
		},
	})
	if err != nil {
		return attributes{}, fmt.Errorf("sqsqueue: read attributes of %s: %w", queueURL, mapError(err))
	}
	a := out.Attributes
	attrs := attributes{arn: a["QueueArn"], fifo: a["FifoQueue"] == "true"}
	for _, f := range []struct {
		name string
		dst  *int64
	}{
		{"DelaySeconds", &attrs.delaySeconds},
		{"ReceiveMessageWaitTimeSeconds", &attrs.waitSeconds},
		{"MaximumMessageSize", &attrs.maxSize},
	} {
		if v, ok := a[f.name]; ok {
			if *f.dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return attributes{}, fmt.Errorf("sqsqueue: queue %s: attribute %s=%q is not an integer", queueURL, f.name, v)
			}
		}
	}
	if p := a["RedrivePolicy"]; p != "" {
		rp, err := parseRedrivePolicy(p)
		if err != nil {
			return attributes{}, fmt.Errorf("sqsqueue: queue %s: %w", queueURL, err)
		}
		attrs.maxReceive, attrs.dlqARN = rp.MaxReceiveCount, rp.DeadLetterTargetARN
	}
	return attrs, nil
}

// suitable refuses queues whose defaults would override what a caller asks
// for: the SDK leaves a zero DelaySeconds or WaitTimeSeconds out of the
// request, so the queue's value would apply instead.
func (a attributes) suitable() error {
	switch {
	case a.fifo:
		return fmt.Errorf("FIFO queues are not supported")
	case a.delaySeconds != 0:
		return fmt.Errorf("DelaySeconds is %d; the driver needs 0 (a send without delay would be delayed)", a.delaySeconds)
	case a.waitSeconds != 0:
		return fmt.Errorf("ReceiveMessageWaitTimeSeconds is %d; the driver needs 0 (a receive with WaitTime 0 would wait)", a.waitSeconds)
	}
	return nil
}

// RedrivePolicy is an SQS queue's RedrivePolicy attribute.
type RedrivePolicy struct {
	// DeadLetterTargetARN is the ARN of the dead-letter queue.
	DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	// MaxReceiveCount is how many receives a message gets before the next
	// one moves it to the dead-letter queue.
	MaxReceiveCount int `json:"maxReceiveCount"`
}

// parseRedrivePolicy decodes a RedrivePolicy; SQS has returned
// maxReceiveCount both as a number and as a string.
func parseRedrivePolicy(s string) (RedrivePolicy, error) {
	var raw struct {
		DeadLetterTargetARN string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return RedrivePolicy{}, fmt.Errorf("RedrivePolicy %q: %w", s, err)
	}
	var n json.Number
	if err := json.Unmarshal(raw.MaxReceiveCount, &n); err != nil {
		var str string
		if json.Unmarshal(raw.MaxReceiveCount, &str) != nil {
			return RedrivePolicy{}, fmt.Errorf("RedrivePolicy %q: maxReceiveCount is neither a number nor a string", s)
		}
		n = json.Number(str)
	}
	count, err := strconv.Atoi(n.String())
	if err != nil || count < 1 {
		return RedrivePolicy{}, fmt.Errorf("RedrivePolicy %q: maxReceiveCount must be a positive integer", s)
	}
	return RedrivePolicy{DeadLetterTargetARN: raw.DeadLetterTargetARN, MaxReceiveCount: count}, nil
}
