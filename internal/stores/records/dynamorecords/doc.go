// Package dynamorecords is the DynamoDB status store: a records.Store on one
// DynamoDB table, for deployments where many processes on many machines share
// the image records.
//
// # URL
//
//	dynamodb://TABLE[?ttl=720h]
//
// The table is the URL's host. ttl (a Go duration, optional) makes every item
// carry an expires_at attribute, in epoch seconds, of its create time plus
// ttl; DynamoDB deletes expired items only if the table's Time to Live setting
// names that attribute (EnsureTable sets it; for a table made by hand run
// `aws dynamodb update-time-to-live --table-name TABLE
// --time-to-live-specification Enabled=true,AttributeName=expires_at`).
// Expiry is lazy (DynamoDB deletes within days), and an expired idempotency
// key may be reused at once. Unknown parameters are rejected.
//
// Credentials, region and endpoint come from the AWS SDK's default chain
// (config.LoadDefaultConfig): environment, shared config and credential
// files, SSO, web identity, container and instance roles. AWS_ENDPOINT_URL
// and AWS_ENDPOINT_URL_DYNAMODB point the driver at another endpoint, such
// as a local emulator.
//
// # Table layout
//
// One table, partition key pk (S), no sort key, billed PAY_PER_REQUEST:
//
//	pk = "img#<id>"   an image: version (N), state (N), batch_id (S, only when
//	                  set), tenant (S, records.Tenant of the image), record
//	                  (B, the protobuf imagepipe.v1.Image),
//	                  created (N, unix milliseconds), wtoken (S, a random
//	                  token of the last write), expires_at (N, with a TTL)
//	pk = "key#<key>"  an idempotency key: image_id (S), committed (BOOL),
//	                  created, wtoken, expires_at as above
//	pk = "bat#<batch>"        a batch's counter (see counter.go)
//	pk = "chg#<batch>#<seq>"  a write of an image of the batch (idem)
//
// The global secondary index by_batch (partition batch_id, sort pk,
// projection ALL) lists a batch in id order; ids are UUIDv7, so pk order is
// creation order. It is sparse: items without batch_id are not in it.
// by_tenant (partition tenant, sort pk, projection ALL) lists a tenant's
// images, newest first for ListImages; only image items carry tenant. A
// table made before by_tenant gets it from EnsureTable (UpdateTable), and
// its images their tenant attribute (see backfillTenants); until then an
// image written before is listed from its next write.
//
// # Consistency
//
// Get, GetByIdempotencyKey and the reads behind conditional writes are
// strongly consistent. ListByBatch and ListImages read an index, and DynamoDB's global
// secondary indexes are eventually consistent: an image created or updated a
// moment ago may be missing from a listing, or listed at an older version,
// for a short while (usually well under a second). Callers that need the
// latest state of an image Get it.
//
// Every write carries a fresh wtoken, so a write whose reply was lost and
// that the SDK retried is recognised as our own when its condition then
// fails, instead of being reported as a conflict or a duplicate.
//
// # Create
//
// Create claims the image id and, if the image has one, the idempotency key
// in one TransactWriteItems call, each with attribute_not_exists(pk).
// Emulators without transactions (dynalite) answer UnknownOperationException;
// the store then switches, once, to a sequence of conditional writes that
// keeps the same guarantees (see fallback.go): the key item is claimed
// uncommitted, the image written, then the key committed; readers ignore
// uncommitted keys, and a claim abandoned by a crashed writer is rolled
// forward or taken over by the next Create of that key.
//
// # Batch counters
//
// An image of a batch is written together with its batch's counter and a
// change item, in one TransactWriteItems where the endpoint has it; a
// transaction of an image with a batch and an idempotency key writes four
// items. Update then reads the image first, for the state the counter
// counts it in. See counter.go for the order of the writes without
// transactions and what a crash between them costs. A table written before
// batch counters has no counter for its batches: GetBatch answers
// ErrNotFound for them until an image of theirs is written again, and then
// counts only what changed since.
//
// # IAM
//
// The store needs dynamodb:GetItem, dynamodb:BatchGetItem, dynamodb:PutItem,
// dynamodb:UpdateItem, dynamodb:DeleteItem and dynamodb:Query on the table
// and its index
// (arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE and .../table/TABLE/index/*);
// TransactWriteItems is authorised per item by PutItem. EnsureTable also
// needs dynamodb:CreateTable, dynamodb:DescribeTable, dynamodb:UpdateTable
// (to add by_tenant), dynamodb:Scan (to set the tenant of older images),
// dynamodb:DescribeTimeToLive and dynamodb:UpdateTimeToLive.
package dynamorecords
