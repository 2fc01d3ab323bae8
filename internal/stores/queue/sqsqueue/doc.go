// Package sqsqueue is a queue.Queue on an Amazon SQS standard queue, using
// aws-sdk-go-v2. It registers four URL schemes with package queue:
//
//	sqs://jobs?visibility=60s&wait=20s
//	    the queue called jobs, looked up with GetQueueUrl
//	https://sqs.eu-west-1.amazonaws.com/123456789012/jobs
//	    a queue URL as SQS prints it
//	sqs+https://sqs.eu-west-1.amazonaws.com/123456789012/jobs
//	    the same, explicitly
//	sqs+http://localhost:9324/000000000000/jobs
//	    a queue on a local SQS-compatible server
//
// Credentials, region and endpoint come from the standard AWS chain
// (config.LoadDefaultConfig: environment, shared config and credentials
// files, SSO, web identity, container and instance roles), including the
// endpoint overrides AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL. A full queue
// URL also selects:
//
//   - the region, when its host is an AWS SQS host (sqs.<region>.amazonaws.com,
//     sqs-fips.<region>.amazonaws.com, <region>.queue.amazonaws.com, ...): the
//     client signs for the queue's region whatever AWS_REGION says;
//   - the endpoint, when its host is not an AWS host and no endpoint override
//     is configured: the client then talks to the URL's scheme://host:port.
//     A configured override wins, because emulators print queue URLs whose
//     host need not resolve (fauxqs: http://sqs.us-east-1.localhost:4566/...).
//
// Parameters, all optional: visibility (the visibility timeout of receives
// that give none; default: the queue's VisibilityTimeout attribute) and wait
// (the longest single ReceiveMessage long poll, 1s to 20s, default 20s; a
// longer Receive WaitTime is impossible anyway, a shorter cap suits proxies
// that cut idle connections). Both take a Go duration or whole seconds.
// Unknown or repeated parameters are errors.
//
// # Mapping onto SQS
//
//   - SQS counts in whole seconds: WaitTime, VisibilityTimeout, Delay and
//     ChangeVisibility timeouts are rounded up to the next whole second.
//   - Bodies are arbitrary bytes. A body that is text SQS can carry verbatim
//     (valid UTF-8 of the characters #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD)
//     is sent as is, so JSON jobs stay readable in the console and the DLQ.
//     Any other body, and any body that starts with EncodedPrefix, is sent as
//     EncodedPrefix followed by its standard base64; Receive decodes it. A
//     binary body grows by a third: a 256 KiB binary body needs a queue whose
//     MaximumMessageSize exceeds 342 KiB (the SQS default is now 1 MiB;
//     Ensure sets it). Characters beyond U+FFFF are legal in SQS but are
//     encoded too, because emulators (fauxqs) reject them.
//   - Attribute values must be text in the SQS character set; they are sent
//     with data type String. Received attributes of type String and Number
//     are returned; Binary ones are dropped.
//   - Receipt handles are the SQS handle followed by '~' and a CRC-32 of it,
//     checked before any request: a malformed, truncated or extended handle
//     yields queue.ErrInvalidReceipt on every server (SQS-compatible servers
//     differ in what they answer; fauxqs accepts any handle on DeleteMessage).
//   - SQS errors map onto the queue sentinels: ReceiptHandleIsInvalid,
//     MessageNotInflight and receipt-handle parameter errors onto
//     ErrInvalidReceipt; parameter and content errors onto
//     ErrInvalidArgument; QueueDoesNotExist onto ErrQueueDoesNotExist. The
//     SDK error stays wrapped as well.
//   - Delete with a stale handle (the message was received again since):
//     SQS documents that the request succeeds and the message "might not be
//     deleted", so it may be deleted too. Unlike sqlitequeue, this driver
//     cannot promise that a stale handle leaves a redelivered message alone.
//   - Stats come from ApproximateNumberOfMessages, ...NotVisible and
//     ...Delayed, which SQS documents may take a minute to become consistent.
//
// The SQS client's HTTP client hands net/http a private copy of each
// request body: with smithy-go v1.28.8, a fast response can otherwise make
// net/http close the connection under it, and the SDK's retry of a lost
// ReceiveMessage response strands the messages it carried until their
// visibility timeout (see transport.go).
//
// New opens a queue only if its attributes suit the driver: not FIFO, and
// DelaySeconds and ReceiveMessageWaitTimeSeconds 0, because the SDK omits a
// zero DelaySeconds or WaitTimeSeconds from requests, so a queue default
// would apply where the caller asked for none.
//
// Beyond queue.Queue, DeleteBatch deletes up to ten messages per request
// and Ensure creates a queue with its dead-letter queue and redrive policy.
//
// IAM: sqs:GetQueueUrl (sqs:// URLs), sqs:GetQueueAttributes,
// sqs:SendMessage, sqs:ReceiveMessage, sqs:DeleteMessage,
// sqs:ChangeMessageVisibility; Ensure also needs sqs:CreateQueue and
// sqs:SetQueueAttributes.
package sqsqueue
