package sqsqueue

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// BatchError reports the handles of a DeleteBatch that SQS did not delete,
// by index into the handles given. It unwraps to every entry's error, so
// errors.Is(err, queue.ErrInvalidReceipt) tells whether any handle was
// refused as invalid.
type BatchError struct {
	Failed map[int]error
}

// Error lists the failed entries in index order.
func (e *BatchError) Error() string {
	idx := slices.Sorted(maps.Keys(e.Failed))
	parts := make([]string, 0, len(idx))
	for _, i := range idx {
		parts = append(parts, fmt.Sprintf("handle %d: %v", i, e.Failed[i]))
	}
	return fmt.Sprintf("sqsqueue: delete batch: %d of the handles failed: %s", len(idx), strings.Join(parts, "; "))
}

// Unwrap returns the entries' errors.
func (e *BatchError) Unwrap() []error { return slices.Collect(maps.Values(e.Failed)) }

// DeleteBatch deletes the messages received with handles using
// DeleteMessageBatch, ten per request. Handles are checked first: a
// malformed one fails the whole call with ErrInvalidReceipt before any
// request. Entries SQS refuses are reported in a *BatchError (the others
// are deleted); a failed request ends the call with its error. Like Delete,
// a handle whose message is gone is not an error.
func (q *Queue) DeleteBatch(ctx context.Context, handles []string) error {
	opCtx, release, err := q.begin(ctx, "delete batch")
	if err != nil {
		return err
	}
	defer release()
	sqsHandles := make([]string, len(handles))
	for i, h := range handles {
		if sqsHandles[i], err = unwrapReceipt(h); err != nil {
			return fmt.Errorf("sqsqueue: delete batch: handle %d: %w", i, err)
		}
	}
	failed := map[int]error{}
	for start := 0; start < len(sqsHandles); start += queue.MaxBatch {
		chunk := sqsHandles[start:min(start+queue.MaxBatch, len(sqsHandles))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(start + i)), ReceiptHandle: aws.String(h)}
		}
		out, err := q.client.DeleteMessageBatch(opCtx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return q.fail(ctx, "delete batch", err)
		}
		for _, f := range out.Failed {
			i, err := strconv.Atoi(aws.ToString(f.Id))
			if err != nil || i < start || i >= start+len(chunk) {
				return fmt.Errorf("sqsqueue: delete batch: the server reported unknown entry %q", aws.ToString(f.Id))
			}
			failed[i] = entryError(f)
		}
	}
	if len(failed) > 0 {
		return &BatchError{Failed: failed}
	}
	return nil
}

// entryError turns a failed batch entry into an error mapped like a
// single call's.
func entryError(f types.BatchResultErrorEntry) error {
	code := strings.TrimPrefix(aws.ToString(f.Code), "AWS.SimpleQueueService.")
	err := error(&smithy.GenericAPIError{Code: code, Message: aws.ToString(f.Message)})
	if s := sentinelFor(code, aws.ToString(f.Message)); s != nil {
		return fmt.Errorf("%w: %w", s, err)
	}
	return err
}
