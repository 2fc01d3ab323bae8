// Package dynamodeliveries is the DynamoDB webhook delivery log: a
// deliveries.Store on a table of its own beside the dynamorecords status
// table, for deployments where many processes on many machines deliver
// webhooks.
//
// # URL
//
//	dynamodb://TABLE[?ttl=720h]
//
// The status store's URL, parsed by dynamorecords.ParseURL. The deliveries
// live in a second table, TABLE-webhooks (TableName). ttl (a Go duration,
// optional) makes every delivery carry an expires_at attribute, in epoch
// seconds, of its create time plus ttl; DynamoDB deletes expired items only
// if the table's Time to Live setting names that attribute (EnsureTable sets
// it when ttl is given). Expiry is lazy: DynamoDB deletes within days.
//
// Credentials, region and endpoint come from the AWS SDK's default chain
// (config.LoadDefaultConfig); AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB
// point the driver at another endpoint, such as a local emulator.
//
// # Table layout
//
// One item per delivery, partition key pk (S), no sort key, billed
// PAY_PER_REQUEST:
//
//	pk          the delivery id
//	version     N, the compare-and-swap version, 1 at Create
//	state       N, the WebhookDeliveryState
//	image_id    S, only when set
//	batch_id    S, only when set
//	tenant      S, only when set (a delivery without one, such as one made
//	            before tenants, is the default tenant's)
//	created     N, create_time in unix microseconds (the time of Create
//	            when the delivery has none); never updated
//	record      B, the protobuf imagepipe.v1.WebhookDelivery
//	wtoken      S, a random token of the last write
//	log         S, the constant "d": the partition of the index below
//	expires_at  N, with a TTL
//
// The global secondary index by_created (partition log, sort created,
// projection ALL) serves List newest first (ScanIndexForward false); filters
// on state, image_id, batch_id and tenant are a FilterExpression, so a
// selective filter reads the deliveries it skips. (The filter for the
// default tenant also matches items without a tenant, which an index keyed
// on tenant would leave out; tables made before tenants need no change.) A List call stops after a bounded
// number of Query calls and may then return a short (even empty) page with a
// page token. Page tokens are opaque (base64url JSON of the last position and
// the filter) and are checked before use: a token of another filter is
// ErrInvalidToken. All deliveries share one index partition, which bounds
// the write rate of the log to that of one partition (about 1,000 writes a
// second), far above what webhook traffic needs.
//
// # Consistency
//
// Get and the reads behind conditional writes are strongly consistent. List
// reads the index, and DynamoDB's global secondary indexes are eventually
// consistent: a delivery created or updated a moment ago may be missing from
// a listing, or listed in its previous state, for a short while (usually well
// under a second). Callers that need the latest state of a delivery Get it.
//
// Every write carries a fresh wtoken, so a write whose reply was lost and
// that the SDK retried is recognised as our own when its condition then
// fails, instead of being reported as ErrExists or ErrConflict.
//
// # IAM
//
// The store needs dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem
// and dynamodb:Query on the table and its index
// (arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE-webhooks and
// .../table/TABLE-webhooks/index/*). EnsureTable also needs
// dynamodb:CreateTable and dynamodb:DescribeTable, and with a ttl
// dynamodb:DescribeTimeToLive and dynamodb:UpdateTimeToLive.
package dynamodeliveries
