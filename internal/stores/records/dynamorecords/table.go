package dynamorecords

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
)

// spec is the store's table for dynamoutil: key pk, the by_batch and
// by_tenant indexes and Time to Live on expires_at.
func (s *Store) spec() dynamoutil.TableSpec {
	return dynamoutil.TableSpec{
		Name:       s.table,
		Driver:     "dynamorecords",
		ErrNoTable: ErrNoTable,
		Key:        dynamoutil.Attr{Name: attrPK, Type: types.ScalarAttributeTypeS},
		Indexes: []dynamoutil.Index{{
			Name:  IndexByBatch,
			Hash:  dynamoutil.Attr{Name: attrBatch, Type: types.ScalarAttributeTypeS},
			Range: dynamoutil.Attr{Name: attrPK, Type: types.ScalarAttributeTypeS},
		}, {
			Name:  IndexByTenant,
			Hash:  dynamoutil.Attr{Name: attrTenant, Type: types.ScalarAttributeTypeS},
			Range: dynamoutil.Attr{Name: attrPK, Type: types.ScalarAttributeTypeS},
		}},
		TTLAttr: attrExpires,
	}
}

// EnsureTable creates the store's table (pay per request, with the by_batch
// and by_tenant indexes) unless it exists, adds by_tenant to a table made
// by an older version (UpdateTable), waits until the table and its indexes
// are ACTIVE, checks that the table has this layout, sets the tenant
// attribute on the images written before it was kept (see
// backfillTenants), and enables Time to Live on expires_at where the
// endpoint supports it (dynalite does not). It is idempotent and safe to
// run from several processes at once. Bound the wait with ctx: creating a
// table takes seconds on DynamoDB, adding an index to a large table longer
// (DynamoDB fills it from the table).
func (s *Store) EnsureTable(ctx context.Context) error {
	spec := s.spec()
	if err := s.addTenantIndex(ctx, spec.Indexes[1]); err != nil {
		return err
	}
	if err := dynamoutil.EnsureTable(ctx, s.db, spec); err != nil {
		return err
	}
	return s.backfillTenants(ctx)
}

// addTenantIndex adds ix, the by_tenant index, to a table made by an
// older version: one that has by_batch and not ix. A missing table is
// left to dynamoutil.EnsureTable, which creates it with both indexes, and
// a table of another layout to its check. Another process adding the
// index meanwhile, or the table busy with another change, is waited out.
func (s *Store) addTenantIndex(ctx context.Context, ix dynamoutil.Index) error {
	for wait := pollFirst; ; wait = min(2*wait, pollMax) {
		desc, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
		var rnf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &rnf):
			return nil
		case err != nil:
			return s.wrap("describe table", err)
		case hasIndex(desc.Table, ix.Name) || !hasIndex(desc.Table, IndexByBatch):
			return nil
		case desc.Table.TableStatus == types.TableStatusActive:
			_, err = s.db.UpdateTable(ctx, addIndexInput(desc.Table, ix))
			var inUse *types.ResourceInUseException
			var limit *types.LimitExceededException
			if err == nil {
				return nil
			}
			if !errors.As(err, &inUse) && !errors.As(err, &limit) {
				return s.wrap("add index "+ix.Name, err)
			}
		}
		if err := dynamoutil.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("dynamorecords: table %q: waiting to add index %s: %w", s.table, ix.Name, err)
		}
	}
}

// Polling of DescribeTable while another change of the table is under way.
const (
	pollFirst = 200 * time.Millisecond
	pollMax   = 2 * time.Second
)

func hasIndex(t *types.TableDescription, name string) bool {
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) == name {
			return true
		}
	}
	return false
}

// addIndexInput is the UpdateTable request that adds ix (projection ALL)
// to table t. A table billed per request takes no throughput for it; a
// provisioned one (made by hand) gets the table's.
func addIndexInput(t *types.TableDescription, ix dynamoutil.Index) *dynamodb.UpdateTableInput {
	create := &types.CreateGlobalSecondaryIndexAction{
		IndexName: aws.String(ix.Name),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(ix.Hash.Name), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(ix.Range.Name), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}
	if b := t.BillingModeSummary; (b == nil || b.BillingMode != types.BillingModePayPerRequest) && t.ProvisionedThroughput != nil {
		create.ProvisionedThroughput = &types.ProvisionedThroughput{
			ReadCapacityUnits:  aws.Int64(max(1, aws.ToInt64(t.ProvisionedThroughput.ReadCapacityUnits))),
			WriteCapacityUnits: aws.Int64(max(1, aws.ToInt64(t.ProvisionedThroughput.WriteCapacityUnits))),
		}
	}
	return &dynamodb.UpdateTableInput{
		TableName: t.TableName,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(ix.Hash.Name), AttributeType: ix.Hash.Type},
			{AttributeName: aws.String(ix.Range.Name), AttributeType: ix.Range.Type},
		},
		GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: create}},
	}
}

// wrap names the failed operation and the table; a missing table becomes
// ErrNoTable, with the SDK's error still in the chain.
func (s *Store) wrap(op string, err error) error { return s.spec().Wrap(op, err) }
