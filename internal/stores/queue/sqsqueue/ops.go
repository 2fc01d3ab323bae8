package sqsqueue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// seconds rounds d up to whole seconds, as SQS counts; 0 if d <= 0.
func seconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32((d + time.Second - 1) / time.Second)
}

// Send implements queue.Queue. The body is encoded as the package
// documentation describes; the Delay is rounded up to whole seconds.
func (q *Queue) Send(ctx context.Context, body []byte, opts queue.SendOptions) (string, error) {
	opCtx, release, err := q.begin(ctx, "send")
	if err != nil {
		return "", err
	}
	defer release()
	if err := queue.ValidateSend(body, opts); err != nil {
		return "", fmt.Errorf("sqsqueue: send: %w", err)
	}
	if err := checkAttributes(opts.Attributes); err != nil {
		return "", fmt.Errorf("sqsqueue: send: %w", err)
	}
	sqsBody := encodeBody(body)
	if size := messageSize(sqsBody, opts.Attributes); q.maxSize > 0 && size > q.maxSize {
		return "", fmt.Errorf("sqsqueue: send: %w: the message takes %d bytes in SQS (binary bodies grow by a third), over the queue's MaximumMessageSize %d",
			queue.ErrInvalidArgument, size, q.maxSize)
	}
	in := &sqs.SendMessageInput{
		QueueUrl:     aws.String(q.url),
		MessageBody:  aws.String(sqsBody),
		DelaySeconds: seconds(opts.Delay),
	}
	if len(opts.Attributes) > 0 {
		in.MessageAttributes = make(map[string]types.MessageAttributeValue, len(opts.Attributes))
		for name, value := range opts.Attributes {
			in.MessageAttributes[name] = types.MessageAttributeValue{DataType: aws.String(stringType), StringValue: aws.String(value)}
		}
	}
	out, err := q.client.SendMessage(opCtx, in)
	if err != nil {
		return "", q.fail(ctx, "send", err)
	}
	return aws.ToString(out.MessageId), nil
}

// Delete implements queue.Queue. SQS accepts a handle whose message is gone
// (nil); a stale handle succeeds too, and SQS documents that the message
// "might not be deleted" then.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	opCtx, release, err := q.begin(ctx, "delete")
	if err != nil {
		return err
	}
	defer release()
	h, err := unwrapReceipt(receiptHandle)
	if err != nil {
		return fmt.Errorf("sqsqueue: delete: %w", err)
	}
	if _, err := q.client.DeleteMessage(opCtx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(h)}); err != nil {
		return q.fail(ctx, "delete", err)
	}
	return nil
}

// ChangeVisibility implements queue.Queue; timeout is rounded up to whole
// seconds. A handle whose message is no longer in flight with it yields
// ErrInvalidReceipt (SQS MessageNotInflight or ReceiptHandleIsInvalid). SQS
// refuses to extend a message's invisibility past 12 hours after its
// receive.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error {
	opCtx, release, err := q.begin(ctx, "change visibility")
	if err != nil {
		return err
	}
	defer release()
	if err := queue.ValidateVisibility(timeout); err != nil {
		return fmt.Errorf("sqsqueue: change visibility: %w", err)
	}
	h, err := unwrapReceipt(receiptHandle)
	if err != nil {
		return fmt.Errorf("sqsqueue: change visibility: %w", err)
	}
	_, err = q.client.ChangeMessageVisibility(opCtx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.url),
		ReceiptHandle:     aws.String(h),
		VisibilityTimeout: seconds(timeout),
	})
	if err != nil {
		return q.fail(ctx, "change visibility", err)
	}
	return nil
}

// Stats implements queue.Queue with GetQueueAttributes. SQS documents that
// the counts may take a minute to become consistent.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	opCtx, release, err := q.begin(ctx, "stats")
	if err != nil {
		return queue.Stats{}, err
	}
	defer release()
	out, err := q.client.GetQueueAttributes(opCtx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return queue.Stats{}, q.fail(ctx, "stats", err)
	}
	var s queue.Stats
	for name, dst := range map[string]*int64{
		"ApproximateNumberOfMessages":           &s.Visible,
		"ApproximateNumberOfMessagesNotVisible": &s.InFlight,
		"ApproximateNumberOfMessagesDelayed":    &s.Delayed,
	} {
		v, ok := out.Attributes[name]
		if !ok {
			return queue.Stats{}, fmt.Errorf("sqsqueue: stats: the server returned no %s", name)
		}
		if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
			return queue.Stats{}, fmt.Errorf("sqsqueue: stats: %s=%q is not an integer", name, v)
		}
	}
	return s, nil
}
