package dynamodeliveries

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
	"google.golang.org/protobuf/proto"
)

// Scheme is the URL scheme the driver registers: the status store's.
const Scheme = dynamorecords.Scheme

// TableSuffix is appended to the status table's name to name the
// deliveries table.
const TableSuffix = "-webhooks"

func init() {
	deliveries.Register(Scheme, func(ctx context.Context, u *url.URL) (deliveries.Store, error) {
		return Open(ctx, u)
	})
}

var _ deliveries.Store = (*Store)(nil)

// ErrNoTable reports that the store's table does not exist (DynamoDB's
// ResourceNotFoundException); create it with EnsureTable (imagepipe init).
var ErrNoTable = errors.New("dynamodeliveries: table does not exist")

// Attribute names of the table layout (see the package doc).
const (
	attrPK      = "pk"
	attrVersion = "version"
	attrState   = "state"
	attrImage   = "image_id"
	attrBatch   = "batch_id"
	attrTenant  = "tenant"
	attrCreated = "created"
	attrRecord  = "record"
	attrToken   = dynamoutil.AttrToken
	attrLog     = "log"
	attrExpires = "expires_at"

	// logValue is the one value of log: every delivery is in one index
	// partition.
	logValue = "d"

	// IndexByCreated is the name of the global secondary index that lists
	// deliveries by create time.
	IndexByCreated = "by_created"
)

// Options tune a Store.
type Options struct {
	// TTL, when positive, sets expires_at on every delivery to its create
	// time plus TTL; the table's Time to Live must name expires_at.
	TTL time.Duration
}

// Store is a deliveries.Store on one DynamoDB table. It is safe for
// concurrent use, and any number of Stores, in any number of processes, may
// share a table.
type Store struct {
	db    *dynamodb.Client
	table string
	opts  Options
	now   func() time.Time
	// Bounds of List (maxQueries, minFilteredLimit); tests lower them.
	maxQueries, minFilteredLimit int
}

// TableName returns the name of the deliveries table beside the status
// table statusTable.
func TableName(statusTable string) string { return statusTable + TableSuffix }

// Open opens the delivery log beside the status table a dynamodb:// URL
// names, with the AWS SDK's default configuration (credentials chain,
// region, AWS_ENDPOINT_URL[_DYNAMODB]).
func Open(ctx context.Context, u *url.URL) (*Store, error) {
	status, ropts, err := dynamorecords.ParseURL(u)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("dynamodeliveries: load AWS configuration: %w", err)
	}
	return New(ctx, cfg, TableName(status), Options{TTL: ropts.TTL})
}

var tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// New returns a Store on table (the deliveries table's own name) using cfg
// (region, credentials, endpoint). It does no I/O: a missing table shows on
// first use as ErrNoTable.
func New(_ context.Context, cfg aws.Config, table string, opts Options) (*Store, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("dynamodeliveries: invalid table name %q: 3 to 255 letters, digits, '_', '-' or '.'", table)
	}
	if opts.TTL < 0 {
		return nil, fmt.Errorf("dynamodeliveries: negative TTL %v", opts.TTL)
	}
	return &Store{db: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = awsutil.DetachBodies(o.HTTPClient)
	}), table: table, opts: opts, now: time.Now,
		maxQueries: maxQueries, minFilteredLimit: minFilteredLimit}, nil
}

// Table returns the name of the store's table.
func (s *Store) Table() string { return s.table }

// Close implements deliveries.Store. The SDK client holds nothing to
// release.
func (s *Store) Close() error { return nil }

// Create implements deliveries.Store with a PutItem conditioned on the id
// being free.
func (s *Store) Create(ctx context.Context, d *pb.WebhookDelivery) (*deliveries.Record, error) {
	id := d.GetId()
	if id == "" {
		return nil, errors.New("dynamodeliveries: create of a delivery without id")
	}
	data, err := marshal(d)
	if err != nil {
		return nil, err
	}
	now := s.now()
	created := now
	if d.GetCreateTime() != nil {
		created = d.GetCreateTime().AsTime()
	}
	token := dynamoutil.NewToken()
	item := map[string]types.AttributeValue{
		attrPK:      dynamoutil.S(id),
		attrVersion: dynamoutil.N(1),
		attrState:   dynamoutil.N(int64(d.GetState())),
		attrCreated: dynamoutil.N(created.UnixMicro()),
		attrRecord:  &types.AttributeValueMemberB{Value: data},
		attrToken:   dynamoutil.S(token),
		attrLog:     dynamoutil.S(logValue),
	}
	if v := d.GetImageId(); v != "" {
		item[attrImage] = dynamoutil.S(v)
	}
	if v := d.GetBatchId(); v != "" {
		item[attrBatch] = dynamoutil.S(v)
	}
	if v := d.GetTenant(); v != "" {
		item[attrTenant] = dynamoutil.S(v)
	}
	if s.opts.TTL > 0 {
		item[attrExpires] = dynamoutil.N(now.Add(s.opts.TTL).Unix())
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.table,
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return &deliveries.Record{Delivery: proto.Clone(d).(*pb.WebhookDelivery), Version: 1}, nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(id), err)
	if err != nil {
		return nil, s.wrap("create "+id, err)
	}
	if dynamoutil.OwnWrite(cur, token) {
		// Our own write, retried by the SDK after its reply was lost.
		return &deliveries.Record{Delivery: proto.Clone(d).(*pb.WebhookDelivery), Version: 1}, nil
	}
	return nil, fmt.Errorf("dynamodeliveries: create %s: %w", id, deliveries.ErrExists)
}

// Get implements deliveries.Store with a strongly consistent read.
func (s *Store) Get(ctx context.Context, id string) (*deliveries.Record, error) {
	if id == "" {
		return nil, deliveries.ErrNotFound
	}
	item, err := dynamoutil.GetItem(ctx, s.db, s.table, keyOf(id))
	if err != nil {
		return nil, s.wrap("get "+id, err)
	}
	if item == nil {
		return nil, fmt.Errorf("dynamodeliveries: get %s: %w", id, deliveries.ErrNotFound)
	}
	return decode(item)
}

// keyOf is the primary key of the delivery id.
func keyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamoutil.S(id)}
}

// Update implements deliveries.Store: one UpdateItem conditioned on the
// version it was read at. State, image, batch and tenant are taken from the
// new record; created and expires_at stay as created.
func (s *Store) Update(ctx context.Context, rec *deliveries.Record) (*deliveries.Record, error) {
	d := rec.Delivery
	id := d.GetId()
	if id == "" {
		return nil, errors.New("dynamodeliveries: update of a delivery without id")
	}
	data, err := marshal(d)
	if err != nil {
		return nil, err
	}
	token := dynamoutil.NewToken()
	names := map[string]string{"#v": attrVersion, "#st": attrState, "#rec": attrRecord, "#tok": attrToken}
	values := map[string]types.AttributeValue{
		":next":     dynamoutil.N(rec.Version + 1),
		":expected": dynamoutil.N(rec.Version),
		":state":    dynamoutil.N(int64(d.GetState())),
		":rec":      &types.AttributeValueMemberB{Value: data},
		":tok":      dynamoutil.S(token),
	}
	set := []string{"#v = :next", "#st = :state", "#rec = :rec", "#tok = :tok"}
	var remove []string
	for _, a := range []struct{ name, ref, value string }{
		{attrImage, "#img", d.GetImageId()}, {attrBatch, "#b", d.GetBatchId()}, {attrTenant, "#tn", d.GetTenant()},
	} {
		names[a.ref] = a.name
		if a.value == "" {
			remove = append(remove, a.ref)
			continue
		}
		set = append(set, a.ref+" = :"+a.ref[1:])
		values[":"+a.ref[1:]] = dynamoutil.S(a.value)
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 keyOf(id),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String("#v = :expected"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	next := &deliveries.Record{Delivery: proto.Clone(d).(*pb.WebhookDelivery), Version: rec.Version + 1}
	if err == nil {
		return next, nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(id), err)
	if err != nil {
		return nil, s.wrap("update "+id, err)
	}
	switch {
	case cur == nil:
		return nil, fmt.Errorf("dynamodeliveries: update %s: %w", id, deliveries.ErrNotFound)
	case dynamoutil.OwnWrite(cur, token) && dynamoutil.GetN(cur, attrVersion) == rec.Version+1:
		// Our own write, retried by the SDK after its reply was lost.
		return next, nil
	default:
		return nil, fmt.Errorf("dynamodeliveries: update %s at version %d: %w", id, rec.Version, deliveries.ErrConflict)
	}
}

// marshal encodes a delivery deterministically.
func marshal(d *pb.WebhookDelivery) ([]byte, error) {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("dynamodeliveries: encode delivery: %w", err)
	}
	return data, nil
}

// decode turns an item into a record.
func decode(item map[string]types.AttributeValue) (*deliveries.Record, error) {
	b, ok := item[attrRecord].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("dynamodeliveries: item %q has no record attribute", dynamoutil.GetS(item, attrPK))
	}
	d := &pb.WebhookDelivery{}
	if err := proto.Unmarshal(b.Value, d); err != nil {
		return nil, fmt.Errorf("dynamodeliveries: decode %q: %w", dynamoutil.GetS(item, attrPK), err)
	}
	return &deliveries.Record{Delivery: d, Version: dynamoutil.GetN(item, attrVersion)}, nil
}
