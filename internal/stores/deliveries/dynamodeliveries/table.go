package dynamodeliveries

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
)

// spec is the store's table for dynamoutil: key pk, the by_created index
// and, with a TTL, Time to Live on expires_at.
func (s *Store) spec() dynamoutil.TableSpec {
	spec := dynamoutil.TableSpec{
		Name:       s.table,
		Driver:     "dynamodeliveries",
		ErrNoTable: ErrNoTable,
		Key:        dynamoutil.Attr{Name: attrPK, Type: types.ScalarAttributeTypeS},
		Indexes: []dynamoutil.Index{{
			Name:  IndexByCreated,
			Hash:  dynamoutil.Attr{Name: attrLog, Type: types.ScalarAttributeTypeS},
			Range: dynamoutil.Attr{Name: attrCreated, Type: types.ScalarAttributeTypeN},
		}},
	}
	if s.opts.TTL > 0 {
		spec.TTLAttr = attrExpires
	}
	return spec
}

// EnsureTable creates the store's table (pay per request, with the
// by_created index) unless it exists, waits until the table and its index
// are ACTIVE, checks that an existing table has this layout, and, when the
// store has a TTL, enables Time to Live on expires_at where the endpoint
// supports it (dynalite does not). It is idempotent and safe to run from
// several processes at once. Bound the wait with ctx: creation takes seconds
// on DynamoDB.
func (s *Store) EnsureTable(ctx context.Context) error {
	return dynamoutil.EnsureTable(ctx, s.db, s.spec())
}

// wrap names the failed operation and the table; a missing table becomes
// ErrNoTable, with the SDK's error still in the chain.
func (s *Store) wrap(op string, err error) error { return s.spec().Wrap(op, err) }
