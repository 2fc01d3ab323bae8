package sqsqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

var _ queue.DeadLetterer = (*Queue)(nil)

// DeadLetterQueue implements queue.DeadLetterer. It reads the queue's
// current RedrivePolicy, looks the target ARN's queue up by name and owner
// account (GetQueueUrl), and opens it with the same client and options. It
// returns queue.ErrNoDeadLetterQueue when the queue has no redrive policy.
func (q *Queue) DeadLetterQueue(ctx context.Context) (queue.Queue, error) {
	ctx, done, err := q.begin(ctx, "open dead-letter queue")
	if err != nil {
		return nil, err
	}
	defer done()
	attrs, err := readAttributes(ctx, q.client, q.url)
	if err != nil {
		return nil, err
	}
	if attrs.dlqARN == "" {
		return nil, fmt.Errorf("sqsqueue: queue %s: %w", q.url, queue.ErrNoDeadLetterQueue)
	}
	account, name, err := parseQueueARN(attrs.dlqARN)
	if err != nil {
		return nil, fmt.Errorf("sqsqueue: queue %s: redrive policy: %w", q.url, err)
	}
	out, err := q.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name), QueueOwnerAWSAccountId: aws.String(account)})
	if err != nil {
		return nil, fmt.Errorf("sqsqueue: get URL of dead-letter queue %s: %w", attrs.dlqARN, mapError(err))
	}
	dlqURL := aws.ToString(out.QueueUrl)
	dlq, err := readAttributes(ctx, q.client, dlqURL)
	if err != nil {
		return nil, err
	}
	if err := dlq.suitable(); err != nil {
		return nil, fmt.Errorf("sqsqueue: dead-letter queue %s: %w", dlqURL, err)
	}
	dctx, cancel := context.WithCancel(context.Background())
	return &Queue{
		client: q.client, url: dlqURL, opts: q.opts,
		maxReceive: dlq.maxReceive, maxSize: dlq.maxSize,
		done: dctx, cancel: cancel,
	}, nil
}

// parseQueueARN splits arn:<partition>:sqs:<region>:<account>:<name>.
func parseQueueARN(arn string) (account, name string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[4] == "" {
		return "", "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	if err := validateName(parts[5]); err != nil {
		return "", "", err
	}
	return parts[4], parts[5], nil
}
