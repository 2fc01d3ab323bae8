package dynamotenants

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
)

// spec is the store's table for dynamoutil: key pk and the by_tenant index.
func (s *Store) spec() dynamoutil.TableSpec {
	return dynamoutil.TableSpec{
		Name:       s.table,
		Driver:     "dynamotenants",
		ErrNoTable: ErrNoTable,
		Key:        dynamoutil.Attr{Name: attrPK, Type: types.ScalarAttributeTypeS},
		Indexes: []dynamoutil.Index{{
			Name:  IndexByTenant,
			Hash:  dynamoutil.Attr{Name: attrTenant, Type: types.ScalarAttributeTypeS},
			Range: dynamoutil.Attr{Name: attrKeyID, Type: types.ScalarAttributeTypeS},
		}},
	}
}

// EnsureTable creates the store's table (pay per request, with the
// by_tenant index) unless it exists, waits until the table and its index are
// ACTIVE, and checks that an existing table has this layout. It is
// idempotent and safe to run from several processes at once. Bound the wait
// with ctx: creation takes seconds on DynamoDB.
func (s *Store) EnsureTable(ctx context.Context) error {
	return dynamoutil.EnsureTable(ctx, s.db, s.spec())
}

// wrap names the failed operation and the table; a missing table becomes
// ErrNoTable, with the SDK's error still in the chain.
func (s *Store) wrap(op string, err error) error { return s.spec().Wrap(op, err) }
