package dynamoutil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Polling of DescribeTable while a table is being created.
const (
	pollFirst = 200 * time.Millisecond
	pollMax   = 2 * time.Second
)

// Attr is a key attribute and its type.
type Attr struct {
	Name string
	Type types.ScalarAttributeType
}

// Index is a global secondary index with partition key Hash, sort key
// Range and projection ALL.
type Index struct {
	Name        string
	Hash, Range Attr
}

// TableSpec is a driver's table: its name and layout, and how the driver
// reports errors on it.
type TableSpec struct {
	// Name is the table's name.
	Name string
	// Driver prefixes error messages: the driver's package name.
	Driver string
	// ErrNoTable is the driver's sentinel for a missing table.
	ErrNoTable error
	// Key is the partition key; the table has no sort key.
	Key Attr
	// Indexes are the table's global secondary indexes.
	Indexes []Index
	// TTLAttr, if not "", is the attribute EnsureTable names in the
	// table's Time to Live setting.
	TTLAttr string
}

// EnsureTable creates the table of spec (billed pay per request) unless it
// exists, waits until the table and its indexes are ACTIVE, checks that an
// existing table has this key schema and these indexes, and, when
// spec.TTLAttr is set, enables Time to Live on it where the endpoint
// supports it (dynalite does not). It is idempotent and safe to run from
// several processes at once. Bound the wait with ctx: creation takes seconds
// on DynamoDB.
func EnsureTable(ctx context.Context, db *dynamodb.Client, spec TableSpec) error {
	_, err := db.CreateTable(ctx, spec.createInput())
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return spec.Wrap("create table", err)
	}
	desc, err := spec.waitActive(ctx, db)
	if err != nil {
		return err
	}
	if err := spec.checkLayout(desc); err != nil {
		return fmt.Errorf("%s: table %q: %w", spec.Driver, spec.Name, err)
	}
	if spec.TTLAttr == "" {
		return nil
	}
	return spec.ensureTTL(ctx, db)
}

// createInput is the CreateTable request of spec.
func (spec TableSpec) createInput() *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(spec.Name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   []types.KeySchemaElement{{AttributeName: aws.String(spec.Key.Name), KeyType: types.KeyTypeHash}},
	}
	defined := map[string]bool{}
	define := func(a Attr) {
		if !defined[a.Name] {
			defined[a.Name] = true
			in.AttributeDefinitions = append(in.AttributeDefinitions,
				types.AttributeDefinition{AttributeName: aws.String(a.Name), AttributeType: a.Type})
		}
	}
	define(spec.Key)
	for _, ix := range spec.Indexes {
		define(ix.Hash)
		define(ix.Range)
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(ix.Hash.Name), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(ix.Range.Name), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	return in
}

// waitActive polls DescribeTable until the table and its indexes are ACTIVE.
func (spec TableSpec) waitActive(ctx context.Context, db *dynamodb.Client) (*types.TableDescription, error) {
	for wait := pollFirst; ; wait = min(2*wait, pollMax) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(spec.Name)})
		var rnf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &rnf):
			// Just created: not visible everywhere yet.
		case err != nil:
			return nil, spec.Wrap("describe table", err)
		case active(out.Table):
			return out.Table, nil
		}
		if err := Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: waiting for table %q to become ACTIVE: %w", spec.Driver, spec.Name, err)
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

// checkLayout verifies the key schema and the indexes of a table.
func (spec TableSpec) checkLayout(t *types.TableDescription) error {
	if !sameKeys(t.KeySchema, spec.Key.Name, "") {
		return fmt.Errorf("key schema is not %s (HASH) alone: made by hand with another layout?", spec.Key.Name)
	}
	for _, want := range spec.Indexes {
		if err := checkIndex(t, want); err != nil {
			return err
		}
	}
	return nil
}

// checkIndex verifies that a table has the index want.
func checkIndex(t *types.TableDescription, want Index) error {
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) != want.Name {
			continue
		}
		if !sameKeys(ix.KeySchema, want.Hash.Name, want.Range.Name) ||
			ix.Projection == nil || ix.Projection.ProjectionType != types.ProjectionTypeAll {
			return fmt.Errorf("index %s is not %s (HASH) + %s (RANGE), projection ALL", want.Name, want.Hash.Name, want.Range.Name)
		}
		return nil
	}
	return fmt.Errorf("no global secondary index %s", want.Name)
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

// ensureTTL enables Time to Live on spec.TTLAttr unless it already is, or
// the endpoint has no UpdateTimeToLive.
func (spec TableSpec) ensureTTL(ctx context.Context, db *dynamodb.Client) error {
	done, err := spec.ttlOn(ctx, db)
	if err != nil || done {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(spec.Name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(spec.TTLAttr),
			Enabled:       aws.Bool(true),
		},
	})
	if err == nil || IsUnknownOperation(err) {
		return nil
	}
	// Another process may have enabled it meanwhile.
	if done, derr := spec.ttlOn(ctx, db); derr == nil && done {
		return nil
	}
	return spec.Wrap("enable time to live on "+spec.TTLAttr, err)
}

// ttlOn reports whether TTL is enabled (or being enabled) on spec.TTLAttr;
// an error if it is on another attribute or being disabled.
func (spec TableSpec) ttlOn(ctx context.Context, db *dynamodb.Client) (bool, error) {
	out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(spec.Name)})
	if IsUnknownOperation(err) {
		return true, nil // no TTL at all on this endpoint: nothing to do
	}
	if err != nil {
		return false, spec.Wrap("describe time to live", err)
	}
	return spec.ttlState(out.TimeToLiveDescription)
}

// ttlState reads a Time to Live description: whether it is enabled (or
// being enabled) on spec.TTLAttr; an error if it is on another attribute or
// being disabled.
func (spec TableSpec) ttlState(d *types.TimeToLiveDescription) (bool, error) {
	if d == nil {
		return false, nil
	}
	switch d.TimeToLiveStatus {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
		if name := aws.ToString(d.AttributeName); name != spec.TTLAttr {
			return false, fmt.Errorf("%s: table %q has time to live on %q, not %q", spec.Driver, spec.Name, name, spec.TTLAttr)
		}
		return true, nil
	case types.TimeToLiveStatusDisabling:
		return false, fmt.Errorf("%s: table %q: time to live is being disabled; run again later", spec.Driver, spec.Name)
	}
	return false, nil
}
