package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// ErrQueueDoesNotExist reports that the queue a URL or name designates does
// not exist (SQS QueueDoesNotExist). Package queue has no sentinel for it.
var ErrQueueDoesNotExist = errors.New("sqsqueue: queue does not exist")

// errorCode returns the SQS error code of err without the
// "AWS.SimpleQueueService." prefix of the legacy query codes, or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	return strings.TrimPrefix(apiErr.ErrorCode(), "AWS.SimpleQueueService.")
}

// sentinelFor returns the queue sentinel an SQS error code maps onto, or
// nil. msg, the error message, refines InvalidParameterValue: SQS reports
// some receipt handle problems with it.
func sentinelFor(code, msg string) error {
	switch code {
	case "QueueDoesNotExist", "NonExistentQueue":
		return ErrQueueDoesNotExist
	case "ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidIdFormat":
		return queue.ErrInvalidReceipt
	case "InvalidParameterValue", "MissingParameter", "InvalidMessageContents",
		"InvalidAttributeName", "InvalidAttributeValue", "InvalidBatchEntryId",
		"TooManyEntriesInBatchRequest", "BatchRequestTooLong", "EmptyBatchRequest",
		"BatchEntryIdsNotDistinct":
		lower := strings.ToLower(msg)
		if strings.Contains(lower, "receipthandle") || strings.Contains(lower, "receipt handle") ||
			strings.Contains(lower, "not available for visibility timeout change") {
			return queue.ErrInvalidReceipt
		}
		return queue.ErrInvalidArgument
	}
	return nil
}

// mapError wraps err with the sentinel its SQS error code maps onto, if
// any; the SDK error stays in the chain.
func mapError(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return fmt.Errorf("%w: %w", ErrQueueDoesNotExist, err)
	}
	if s := sentinelFor(errorCode(err), apiErr.ErrorMessage()); s != nil {
		return fmt.Errorf("%w: %w", s, err)
	}
	return err
}

// fail builds the error of an operation: ErrClosed once the queue is
// closed, the caller's context error once it is done, else the mapped SQS
// error.
func (q *Queue) fail(ctx context.Context, op string, err error) error {
	switch {
	case q.closed.Load():
		return fmt.Errorf("sqsqueue: %s: %w", op, queue.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("sqsqueue: %s: %w", op, ctx.Err())
	}
	return fmt.Errorf("sqsqueue: %s: %w", op, mapError(err))
}
