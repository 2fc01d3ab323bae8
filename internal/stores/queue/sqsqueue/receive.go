package sqsqueue

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// minRepoll is the least wait left for which Receive asks again after an
// empty answer. Servers answer empty before the wait ends when another
// receiver took the message that woke them (fauxqs does).
const minRepoll = 200 * time.Millisecond

// Receive implements queue.Queue with ReceiveMessage long polls of
// WaitTime rounded up to whole seconds, each at most Options.MaxWait;
// VisibilityTimeout (or Options.Visibility) is rounded up likewise.
// Cancelling ctx abandons the pending call: messages the server handed out
// meanwhile stay invisible until their visibility timeout.
func (q *Queue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	opCtx, release, err := q.begin(ctx, "receive")
	if err != nil {
		return nil, err
	}
	defer release()
	if err := queue.ValidateReceive(opts); err != nil {
		return nil, fmt.Errorf("sqsqueue: receive: %w", err)
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.url),
		MaxNumberOfMessages: int32(max(opts.MaxMessages, 1)),
		VisibilityTimeout:   seconds(cmp.Or(opts.VisibilityTimeout, q.opts.Visibility)),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
		MessageAttributeNames: []string{"All"},
	}
	deadline := time.Now().Add(opts.WaitTime)
	for {
		in.WaitTimeSeconds = min(seconds(time.Until(deadline)), seconds(q.opts.MaxWait))
		out, err := q.client.ReceiveMessage(opCtx, in)
		if err != nil {
			return nil, q.fail(ctx, "receive", err)
		}
		if len(out.Messages) > 0 {
			return toMessages(out.Messages)
		}
		if time.Until(deadline) < minRepoll {
			return []queue.Message{}, nil
		}
	}
}

// toMessages converts received SQS messages.
func toMessages(in []types.Message) ([]queue.Message, error) {
	msgs := make([]queue.Message, 0, len(in))
	for _, m := range in {
		id := aws.ToString(m.MessageId)
		count, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if err != nil {
			return nil, fmt.Errorf("sqsqueue: receive: message %s has no valid ApproximateReceiveCount", id)
		}
		sent, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("sqsqueue: receive: message %s has no valid SentTimestamp", id)
		}
		msgs = append(msgs, queue.Message{
			ID:            id,
			Body:          decodeBody(aws.ToString(m.Body)),
			Attributes:    stringAttributes(m.MessageAttributes),
			ReceiptHandle: wrapReceipt(aws.ToString(m.ReceiptHandle)),
			ReceiveCount:  count,
			SentAt:        time.UnixMilli(sent),
		})
	}
	return msgs, nil
}

// stringAttributes returns the String and Number attributes (including
// custom types such as "String.json"), or nil if there are none.
func stringAttributes(in map[string]types.MessageAttributeValue) map[string]string {
	var out map[string]string
	for name, v := range in {
		t := aws.ToString(v.DataType)
		if v.StringValue == nil || !strings.HasPrefix(t, "String") && !strings.HasPrefix(t, "Number") {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(in))
		}
		out[name] = *v.StringValue
	}
	return out
}
