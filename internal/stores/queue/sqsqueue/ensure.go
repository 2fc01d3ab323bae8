package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// Queue attributes Ensure sets.
const (
	// DLQSuffix is appended to a queue's name to name its dead-letter queue.
	DLQSuffix = "-dlq"
	// DLQRetention is the dead-letter queue's MessageRetentionPeriod, the
	// SQS maximum. A standard queue's DLQ counts retention from the
	// original send, so it must outlast the source queue's (4 days).
	DLQRetention = 14 * 24 * time.Hour
	// MaxMessageSize is the MaximumMessageSize Ensure sets (the SQS
	// maximum and default), room for a base64-encoded 256 KiB body.
	MaxMessageSize = 1 << 20
	// maxMaxReceive is the largest maxReceiveCount SQS accepts.
	maxMaxReceive = 1000
)

// Ensure creates, or brings up to date, the standard queue called name and
// its dead-letter queue name+DLQSuffix, and returns their URLs. The DLQ
// keeps messages DLQRetention; the queue has the VisibilityTimeout
// visibility (whole seconds), DelaySeconds and
// ReceiveMessageWaitTimeSeconds 0 (as New requires), and a RedrivePolicy
// {deadLetterTargetArn: the DLQ, maxReceiveCount: maxReceive}. Both have
// MaximumMessageSize MaxMessageSize. With maxReceive 0 there is no DLQ
// (dlqURL is "") and Ensure removes any redrive policy.
//
// It is idempotent: a queue that exists with other attributes is updated
// with SetQueueAttributes (SQS may take up to a minute to apply changes
// everywhere). A queue deleted less than 60 seconds ago cannot be created
// again (QueueDeletedRecently).
func Ensure(ctx context.Context, cfg aws.Config, name string, maxReceive int, visibility time.Duration) (queueURL, dlqURL string, err error) {
	if err := validateName(name); err != nil {
		return "", "", err
	}
	if maxReceive < 0 || maxReceive > maxMaxReceive {
		return "", "", fmt.Errorf("sqsqueue: ensure %s: %w: max receive %d outside [0, %d]", name, queue.ErrInvalidArgument, maxReceive, maxMaxReceive)
	}
	if visibility < 0 || visibility > queue.MaxVisibilityTimeout || visibility%time.Second != 0 {
		return "", "", fmt.Errorf("sqsqueue: ensure %s: %w: visibility %v must be whole seconds in [0, %v]", name, queue.ErrInvalidArgument, visibility, queue.MaxVisibilityTimeout)
	}
	client := newClient(cfg, Location{})
	attrs := map[string]string{
		"VisibilityTimeout":             strconv.Itoa(int(visibility / time.Second)),
		"DelaySeconds":                  "0",
		"ReceiveMessageWaitTimeSeconds": "0",
		"MaximumMessageSize":            strconv.Itoa(MaxMessageSize),
		"RedrivePolicy":                 "",
	}
	if maxReceive > 0 {
		dlqName := name + DLQSuffix
		if err := validateName(dlqName); err != nil {
			return "", "", err
		}
		dlqURL, err = ensureQueue(ctx, client, dlqName, map[string]string{
			"VisibilityTimeout":      attrs["VisibilityTimeout"],
			"MaximumMessageSize":     attrs["MaximumMessageSize"],
			"MessageRetentionPeriod": strconv.Itoa(int(DLQRetention / time.Second)),
		})
		if err != nil {
			return "", "", err
		}
		dlq, err := readAttributes(ctx, client, dlqURL)
		if err != nil {
			return "", "", err
		}
		policy, err := json.Marshal(RedrivePolicy{DeadLetterTargetARN: dlq.arn, MaxReceiveCount: maxReceive})
		if err != nil {
			return "", "", fmt.Errorf("sqsqueue: ensure %s: %w", name, err)
		}
		attrs["RedrivePolicy"] = string(policy)
	}
	if queueURL, err = ensureQueue(ctx, client, name, attrs); err != nil {
		return "", "", err
	}
	return queueURL, dlqURL, nil
}

// ensureQueue creates the queue called name with attrs, or sets attrs on
// the queue of that name if it exists with other values. An empty value
// removes an attribute and is left out of CreateQueue.
func ensureQueue(ctx context.Context, client *sqs.Client, name string, attrs map[string]string) (string, error) {
	create := map[string]string{}
	for k, v := range attrs {
		if v != "" {
			create[k] = v
		}
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: create})
	if err == nil {
		queueURL := aws.ToString(out.QueueUrl)
		if policy, ok := attrs["RedrivePolicy"]; !ok || policy != "" {
			return queueURL, nil
		}
		// CreateQueue may have matched an existing queue without comparing
		// the redrive policy it did not carry: clear it.
		return queueURL, setAttributes(ctx, client, queueURL, name, attrs)
	}
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) && errorCode(err) != "QueueAlreadyExists" {
		return "", fmt.Errorf("sqsqueue: create queue %s: %w", name, mapError(err))
	}
	queueURL, err := lookup(ctx, client, name)
	if err != nil {
		return "", err
	}
	return queueURL, setAttributes(ctx, client, queueURL, name, attrs)
}

func setAttributes(ctx context.Context, client *sqs.Client, queueURL, name string, attrs map[string]string) error {
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(queueURL), Attributes: attrs}); err != nil {
		return fmt.Errorf("sqsqueue: update attributes of queue %s: %w", name, mapError(err))
	}
	return nil
}
