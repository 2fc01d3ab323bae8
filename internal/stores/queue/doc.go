// Package queue defines a message queue interface with Amazon SQS (standard
// queue) semantics and a URL-based driver registry in the style of
// database/sql.
//
// A driver lives in its own package, registers a URL scheme from init and is
// linked in with a blank import:
//
//	import _ "github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
//
//	q, err := queue.Open(ctx, "sqlite:///var/lib/imagepipe/queue.db?name=jobs")
//
// # Semantics every driver must provide
//
// Package queuetest checks these and every driver runs it:
//
//   - Delivery is at least once. A received message is invisible for the
//     visibility timeout; unless deleted in time it is delivered again with
//     ReceiveCount incremented and a new ReceiptHandle.
//   - Delete and ChangeVisibility take the handle of the latest receive. A
//     stale handle never deletes the message: Delete returns nil or
//     ErrInvalidReceipt; ChangeVisibility returns ErrInvalidReceipt or at
//     least leaves the visibility alone. A malformed handle yields
//     ErrInvalidReceipt. Deleting an already deleted message is not an error.
//   - ChangeVisibility sets the remaining invisibility, counted from now; 0
//     makes the message visible at once (the way to ask for a retry after a
//     backoff is ChangeVisibility(handle, backoff)).
//   - Redrive: with a maximum receive count N > 0, a message received N
//     times that becomes visible again is moved, by the next receive, to the
//     dead-letter queue with its ID, body and attributes intact. A DLQ is a
//     queue in its own right, opened by URL.
//   - Receive long-polls up to WaitTime and returns as soon as at least one
//     message is available, or an empty slice and no error when WaitTime
//     passes. Cancelling ctx ends the wait with an error wrapping ctx.Err().
//   - Bodies are arbitrary bytes (an SQS driver encodes what SQS cannot
//     carry); limits are those of SQS, checked by ValidateSend,
//     ValidateReceive and ValidateVisibility before any I/O, with errors
//     wrapping ErrInvalidArgument.
//   - Stats are approximate, like SQS ApproximateNumberOfMessages*.
//   - Ordering is best effort, as in SQS standard queues.
package queue
