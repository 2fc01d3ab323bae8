// Package dynamotenants is the DynamoDB tenants store: API keys and tenant
// settings in a table of their own beside the dynamorecords status table,
// for deployments where many processes on many machines authenticate
// requests.
//
// # URL
//
//	dynamodb://TABLE[?ttl=720h]
//
// The status store's URL, parsed by dynamorecords.ParseURL. Keys and
// tenants live in a third table, TABLE-tenants (TableName), beside
// TABLE-webhooks. ttl is the image records' and deliveries' setting: keys
// and tenants never expire.
//
// Credentials, region and endpoint come from the AWS SDK's default chain
// (config.LoadDefaultConfig); AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB
// point the driver at another endpoint, such as a local emulator.
//
// # Table layout
//
// Partition key pk (S), no sort key, billed PAY_PER_REQUEST. Two kinds of
// item share the table, told apart by pk's prefix. An API key:
//
//	pk        "key#" and the key id
//	key_id    S, the key id
//	tenant    S, the key's tenant
//	name      S, the key's label
//	scopes    L of S, in order; absent when none
//	hash      B, the SHA-256 of the key; absent when empty
//	created   N, unix microseconds; absent when zero
//	last_use  N, unix microseconds; absent until the key is used
//	revoked   N, unix microseconds; absent while the key is active
//	wtoken    S, a random token of the last conditional write
//
// A tenant's settings:
//
//	pk        "tenant#" and the tenant name
//	name      S, the tenant name
//	version   N, the compare-and-swap version, 1 at creation
//	secrets   L of S, the webhook secrets in order; absent when none
//	updated   N, unix microseconds
//	wtoken    S
//
// Times are kept to the microsecond and come back in UTC.
//
// # Listing keys
//
// The global secondary index by_tenant (partition tenant, sort key_id,
// projection ALL) holds the key items alone: tenant items have no tenant
// attribute, so the index is sparse. A tenant's listing is a Query on it,
// in key_id order, reading one key more than the page so that the last page
// is never followed by an empty one. The index spreads keys over one
// partition per tenant; a scan with a filter would read every key of every
// tenant for each page.
//
// Listing every tenant's keys (tenant "") is ordered by tenant, then id, as
// on SQLite, but no index gives that order: each page Scans the whole
// by_tenant index and sorts what comes after the page token in memory. It
// reads every key once per page, which is fine for the operator's listing
// of a few thousand keys and is not meant for more.
//
// Page tokens are opaque (base64url JSON of the last key's tenant and id
// and of the tenant listed) and are checked before use: a token of another
// listing is ErrInvalidToken.
//
// # Writes
//
// CreateKey and PutTenant are conditional PutItems (the key id free; the
// tenant absent for version 0, else at the version read). Each carries a
// fresh wtoken, so a write whose reply was lost and that the SDK retried is
// recognised as our own when its condition then fails, instead of being
// reported as ErrExists or ErrConflict. PutKey is an unconditional PutItem.
// RevokeKey is an UpdateItem that keeps a revoke time already set
// (if_not_exists), TouchKey one conditioned on the stored last use being
// older; both are conditioned on the key existing, and a retried one
// changes nothing.
//
// Every TouchKey is a write, to the table and, as the index projects every
// attribute, to the key's tenant partition of the index: callers should
// record uses coarsely (say, at most once a minute per key), not on every
// request.
//
// # Consistency
//
// GetKey, GetTenant and the reads behind conditional writes are strongly
// consistent: authenticate with GetKey, never with a listing. ListKeys
// reads the index, and DynamoDB's global secondary indexes are eventually
// consistent: a key created, revoked or moved a moment ago may be missing
// from a listing, or listed as it was, for a short while.
//
// # IAM
//
// The store needs dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem,
// dynamodb:Query and dynamodb:Scan on the table and its index
// (arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE-tenants and
// .../table/TABLE-tenants/index/*). EnsureTable also needs
// dynamodb:CreateTable and dynamodb:DescribeTable.
package dynamotenants
