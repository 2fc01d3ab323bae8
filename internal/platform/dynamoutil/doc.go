// Package dynamoutil holds what the DynamoDB drivers (dynamorecords,
// dynamodeliveries) share: EnsureTable, which creates a table of a given
// layout, waits until it is ACTIVE, checks an existing table's layout and
// turns on Time to Live; the error mapping of the drivers (a missing table
// becomes the driver's ErrNoTable, operations and table named in the
// message); and the helpers of their conditional writes.
//
// # Write tokens
//
// Every write of the drivers stores a fresh random token (NewToken) in
// AttrToken. When a write's reply is lost, the SDK retries it, and its
// condition then fails on the item the first attempt wrote. ConflictItem
// returns the item a condition failed on, and OwnWrite recognises our own
// write in it, so the driver reports success instead of a conflict or a
// duplicate.
package dynamoutil
