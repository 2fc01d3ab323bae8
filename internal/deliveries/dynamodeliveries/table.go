package dynamodeliveries

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Polling of DescribeTable while a table is being created.
const (
	pollFirst = 200 * time.Millisecond
	pollMax   = 2 * time.Second
)

// EnsureTable creates the store's table (pay per request, with the
// by_created index) unless it exists, waits until the table and its index
// are ACTIVE, checks that an existing table has this layout, and, when the
// store has a TTL, enables Time to Live on expires_at where the endpoint
// supports it (dynalite does not). It is idempotent and safe to run from
// several processes at once. Bound the wait with ctx: creation takes seconds
// on DynamoDB.
func (s *Store) EnsureTable(ctx context.Context) error {
	_, err := s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &s.table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrLog), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrCreated), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(IndexByCreated),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrLog), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrCreated), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return s.wrap("create table", err)
	}
	desc, err := s.waitActive(ctx)
	if err != nil {
		return err
	}
	if err := checkLayout(desc); err != nil {
		return fmt.Errorf("dynamodeliveries: table %q: %w", s.table, err)
	}
	if s.opts.TTL <= 0 {
		return nil
	}
	return s.ensureTTL(ctx)
}

// waitActive polls DescribeTable until the table and its indexes are ACTIVE.
func (s *Store) waitActive(ctx context.Context) (*types.TableDescription, error) {
	for wait := pollFirst; ; wait = min(2*wait, pollMax) {
		out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
		var rnf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &rnf):
			// Just created: not visible everywhere yet.
		case err != nil:
			return nil, s.wrap("describe table", err)
		case active(out.Table):
			return out.Table, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("dynamodeliveries: waiting for table %q to become ACTIVE: %w", s.table, err)
		}
	}
}

func active(t *types.TableDescription) bool {
	if t == nil || t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if ix.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// checkLayout verifies the key schema and the by_created index of a table.
func checkLayout(t *types.TableDescription) error {
	if !sameKeys(t.KeySchema, attrPK, "") {
		return fmt.Errorf("key schema is not %s (HASH) alone: made by hand with another layout?", attrPK)
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) != IndexByCreated {
			continue
		}
		if !sameKeys(ix.KeySchema, attrLog, attrCreated) ||
			ix.Projection == nil || ix.Projection.ProjectionType != types.ProjectionTypeAll {
			return fmt.Errorf("index %s is not %s (HASH) + %s (RANGE), projection ALL", IndexByCreated, attrLog, attrCreated)
		}
		return nil
	}
	return fmt.Errorf("no global secondary index %s", IndexByCreated)
}

// sameKeys reports whether a key schema is hash (and range, if not "").
func sameKeys(ks []types.KeySchemaElement, hash, rng string) bool {
	want := map[string]types.KeyType{hash: types.KeyTypeHash}
	if rng != "" {
		want[rng] = types.KeyTypeRange
	}
	if len(ks) != len(want) {
		return false
	}
	for _, k := range ks {
		if want[aws.ToString(k.AttributeName)] != k.KeyType {
			return false
		}
	}
	return true
}

// ensureTTL enables Time to Live on expires_at unless it already is, or the
// endpoint has no UpdateTimeToLive.
func (s *Store) ensureTTL(ctx context.Context) error {
	done, err := s.ttlOn(ctx)
	if err != nil || done {
		return err
	}
	_, err = s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &s.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpires),
			Enabled:       aws.Bool(true),
		},
	})
	if err == nil || isUnknownOperation(err) {
		return nil
	}
	// Another process may have enabled it meanwhile.
	if done, derr := s.ttlOn(ctx); derr == nil && done {
		return nil
	}
	return s.wrap("enable time to live on "+attrExpires, err)
}

// ttlOn reports whether TTL is enabled (or being enabled) on expires_at; an
// error if it is on another attribute or being disabled.
func (s *Store) ttlOn(ctx context.Context) (bool, error) {
	out, err := s.db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &s.table})
	if isUnknownOperation(err) {
		return true, nil // no TTL at all on this endpoint: nothing to do
	}
	if err != nil {
		return false, s.wrap("describe time to live", err)
	}
	d := out.TimeToLiveDescription
	if d == nil {
		return false, nil
	}
	switch d.TimeToLiveStatus {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
		if name := aws.ToString(d.AttributeName); name != attrExpires {
			return false, fmt.Errorf("dynamodeliveries: table %q has time to live on %q, not %q", s.table, name, attrExpires)
		}
		return true, nil
	case types.TimeToLiveStatusDisabling:
		return false, fmt.Errorf("dynamodeliveries: table %q: time to live is being disabled; run again later", s.table)
	}
	return false, nil
}

// isUnknownOperation reports whether the endpoint does not implement the
// operation it was sent (emulators answer UnknownOperationException).
func isUnknownOperation(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnknownOperationException", "UnknownOperation", "NotImplemented", "NotImplementedException":
		return true
	}
	return false
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
