package dynamorecords

import (
	"context"
	"errors"
	"fmt"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

var _ records.Store = (*Store)(nil)

// ErrNoTable reports that the store's table does not exist (DynamoDB's
// ResourceNotFoundException); create it with EnsureTable (imagepipe init).
var ErrNoTable = errors.New("dynamorecords: table does not exist")

// Options tune a Store.
type Options struct {
	// TTL, when positive, sets expires_at on every item to its create time
	// plus TTL; the table's Time to Live must name expires_at.
	TTL time.Duration
}

// Store is a records.Store on one DynamoDB table. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may share a
// table.
type Store struct {
	db    *dynamodb.Client
	table string
	opts  Options
	// noTx is set once the endpoint has answered that it does not know
	// TransactWriteItems; Create then uses the conditional-write sequence.
	noTx atomic.Bool
	// now is the clock (time.Now).
	now func() time.Time
}

// New returns a Store on table using cfg (region, credentials, endpoint). It
// does no I/O: a missing table shows on first use as ErrNoTable.
func New(_ context.Context, cfg aws.Config, table string, opts Options) (*Store, error) {
	if err := validTable(table); err != nil {
		return nil, err
	}
	if opts.TTL < 0 {
		return nil, fmt.Errorf("dynamorecords: negative TTL %v", opts.TTL)
	}
	return &Store{db: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = awsutil.DetachBodies(o.HTTPClient)
	}), table: table, opts: opts, now: time.Now}, nil
}

// Table returns the name of the store's table.
func (s *Store) Table() string { return s.table }

// Close implements records.Store. The SDK client holds nothing to release.
func (s *Store) Close() error { return nil }

// Get implements records.Store with a strongly consistent read.
func (s *Store) Get(ctx context.Context, id string) (*records.Record, error) {
	if id == "" {
		return nil, records.ErrNotFound
	}
	item, err := s.getItem(ctx, imageKey(id))
	if err != nil {
		return nil, s.wrap("get "+id, err)
	}
	if item == nil {
		return nil, records.ErrNotFound
	}
	return decodeImage(item)
}

// GetByIdempotencyKey implements records.Store. A key whose Create has not
// committed yet, or whose image is gone (expired), is not found.
func (s *Store) GetByIdempotencyKey(ctx context.Context, tenant, key string) (*records.Record, error) {
	if key == "" {
		return nil, records.ErrNotFound
	}
	item, err := s.getItem(ctx, idemKey(records.Scoped(tenant, key)))
	if err != nil {
		return nil, s.wrap("get key", err)
	}
	k, ok := decodeKey(item)
	if !ok || !k.committed || k.expired(s.now()) {
		return nil, records.ErrNotFound
	}
	return s.Get(ctx, k.imageID)
}

// getItem reads one item consistently; nil when it does not exist.
func (s *Store) getItem(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	return dynamoutil.GetItem(ctx, s.db, s.table, keyOf(pk))
}

// imageUpdate is the update of image id to img at version+1, conditioned
// on it being at version: as the UpdateItem of an image without batch, or
// an action of a counted transaction. batch_id, created and expires_at are
// left as created; tenant is set if the item, written before tenant
// listings, lacks it.
func (s *Store) imageUpdate(img *pb.Image, version int64, data []byte, token string) *types.Update {
	return &types.Update{
		TableName:           &s.table,
		Key:                 keyOf(imageKey(img.GetId())),
		UpdateExpression:    aws.String("SET #v = :next, #st = :state, #rec = :rec, #tok = :tok, #tn = if_not_exists(#tn, :tn)"),
		ConditionExpression: aws.String("#v = :expected"),
		ExpressionAttributeNames: map[string]string{
			"#v": attrVersion, "#st": attrState, "#rec": attrRecord, "#tok": attrToken, "#tn": attrTenant,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next":     dynamoutil.N(version + 1),
			":expected": dynamoutil.N(version),
			":state":    dynamoutil.N(int64(img.GetState())),
			":rec":      &types.AttributeValueMemberB{Value: data},
			":tok":      dynamoutil.S(token),
			":tn":       dynamoutil.S(records.Tenant(img)),
		},
	}
}

// Update implements records.Store: one UpdateItem conditioned on the version
// it was read at. An image of a batch is read first, for the state its
// batch's counter counts it in, and written in one transaction with the
// counter (see counter.go).
func (s *Store) Update(ctx context.Context, rec *records.Record) (*records.Record, error) {
	id := rec.Image.GetId()
	if id == "" {
		return nil, errors.New("dynamorecords: update of an image without id")
	}
	data, err := marshal(rec.Image)
	if err != nil {
		return nil, err
	}
	done := &records.Record{Image: proto.Clone(rec.Image).(*pb.Image), Version: rec.Version + 1}
	if rec.Image.GetBatchId() == "" {
		return result(done, s.updateItem(ctx, rec, data))
	}
	cur, err := s.getItem(ctx, imageKey(id))
	switch {
	case err != nil:
		return nil, s.wrap("update "+id, err)
	case cur == nil:
		return nil, fmt.Errorf("dynamorecords: update %s: %w", id, records.ErrNotFound)
	case dynamoutil.GetN(cur, attrVersion) != rec.Version:
		return nil, fmt.Errorf("dynamorecords: update %s at version %d: %w", id, rec.Version, records.ErrConflict)
	}
	batch := dynamoutil.GetS(cur, attrBatch)
	if batch == "" {
		return result(done, s.updateItem(ctx, rec, data))
	}
	prev := &pb.Image{State: pb.ImageState(dynamoutil.GetN(cur, attrState))}
	if !s.noTx.Load() {
		up := s.imageUpdate(rec.Image, rec.Version, data, dynamoutil.NewToken())
		err := s.writeTx(ctx, batch, prev, rec.Image, []types.TransactWriteItem{{Update: up}})
		switch {
		case err == nil:
			return done, nil
		case errors.Is(err, errImageCondition):
			if item, gerr := s.getItem(ctx, imageKey(id)); gerr == nil && item == nil {
				return nil, fmt.Errorf("dynamorecords: update %s: %w", id, records.ErrNotFound)
			}
			return nil, fmt.Errorf("dynamorecords: update %s at version %d: %w", id, rec.Version, records.ErrConflict)
		case !dynamoutil.IsUnknownOperation(err):
			return nil, err
		}
		s.noTx.Store(true)
	}
	if err := s.updateItem(ctx, rec, data); err != nil {
		return nil, err
	}
	return result(done, s.countSeq(ctx, batch, prev, rec.Image))
}

// result is rec, or nil and err.
func result(rec *records.Record, err error) (*records.Record, error) {
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// updateItem writes rec at the next version with one UpdateItem
// conditioned on its version.
func (s *Store) updateItem(ctx context.Context, rec *records.Record, data []byte) error {
	id := rec.Image.GetId()
	token := dynamoutil.NewToken()
	up := s.imageUpdate(rec.Image, rec.Version, data, token)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           up.TableName,
		Key:                                 up.Key,
		UpdateExpression:                    up.UpdateExpression,
		ConditionExpression:                 up.ConditionExpression,
		ExpressionAttributeNames:            up.ExpressionAttributeNames,
		ExpressionAttributeValues:           up.ExpressionAttributeValues,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(imageKey(id)), err)
	if err != nil {
		return s.wrap("update "+id, err)
	}
	switch {
	case cur == nil:
		return fmt.Errorf("dynamorecords: update %s: %w", id, records.ErrNotFound)
	case dynamoutil.OwnWrite(cur, token) && dynamoutil.GetN(cur, attrVersion) == rec.Version+1:
		// Our own write, retried by the SDK after its reply was lost.
		return nil
	default:
		return fmt.Errorf("dynamorecords: update %s at version %d: %w", id, rec.Version, records.ErrConflict)
	}
}

// GetBatch implements records.Store: one consistent read of the counter.
func (s *Store) GetBatch(ctx context.Context, tenant, batchID string) (*records.BatchCounter, error) {
	return records.ReadCounter(tenant, batchID, func(batch string) (*records.BatchCounter, error) {
		return s.readCounter(ctx, batch)
	})
}
