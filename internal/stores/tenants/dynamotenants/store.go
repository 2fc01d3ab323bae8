package dynamotenants

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/awsutil"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// Scheme is the URL scheme the driver registers: the status store's.
const Scheme = dynamorecords.Scheme

// TableSuffix is appended to the status table's name to name the tenants
// table.
const TableSuffix = "-tenants"

func init() {
	tenants.Register(Scheme, func(ctx context.Context, u *url.URL) (tenants.Store, error) {
		return Open(ctx, u)
	})
}

var _ tenants.Store = (*Store)(nil)

// ErrNoTable reports that the store's table does not exist (DynamoDB's
// ResourceNotFoundException); create it with EnsureTable (imagepipe init).
var ErrNoTable = errors.New("dynamotenants: table does not exist")

// Attribute names of the table layout (see the package doc).
const (
	attrPK      = "pk"
	attrKeyID   = "key_id"
	attrTenant  = "tenant"
	attrName    = "name"
	attrScopes  = "scopes"
	attrHash    = "hash"
	attrCreated = "created"
	attrLastUse = "last_use"
	attrRevoked = "revoked"
	attrVersion = "version"
	attrSecrets = "secrets"
	attrUpdated = "updated"
	attrToken   = dynamoutil.AttrToken

	// Prefixes of pk: the two kinds of item.
	keyPrefix    = "key#"
	tenantPrefix = "tenant#"

	// IndexByTenant is the name of the global secondary index that lists a
	// tenant's keys by id.
	IndexByTenant = "by_tenant"
)

// Store is a tenants.Store on one DynamoDB table. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may share a
// table.
type Store struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
}

// TableName returns the name of the tenants table beside the status table
// statusTable.
func TableName(statusTable string) string { return statusTable + TableSuffix }

// Open opens the tenants store beside the status table a dynamodb:// URL
// names, with the AWS SDK's default configuration (credentials chain,
// region, AWS_ENDPOINT_URL[_DYNAMODB]).
func Open(ctx context.Context, u *url.URL) (*Store, error) {
	status, _, err := dynamorecords.ParseURL(u)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("dynamotenants: load AWS configuration: %w", err)
	}
	return New(ctx, cfg, TableName(status))
}

var tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// New returns a Store on table (the tenants table's own name) using cfg
// (region, credentials, endpoint). It does no I/O: a missing table shows on
// first use as ErrNoTable.
func New(_ context.Context, cfg aws.Config, table string) (*Store, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("dynamotenants: invalid table name %q: 3 to 255 letters, digits, '_', '-' or '.'", table)
	}
	return &Store{db: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = awsutil.DetachBodies(o.HTTPClient)
	}), table: table, now: time.Now}, nil
}

// Table returns the name of the store's table.
func (s *Store) Table() string { return s.table }

// Close implements tenants.Store. The SDK client holds nothing to release.
func (s *Store) Close() error { return nil }

// keyOf is the primary key of the key id; tenantKey that of a tenant.
func keyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamoutil.S(keyPrefix + id)}
}

func tenantKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamoutil.S(tenantPrefix + name)}
}

// micros is a time as stored: unix microseconds.
func micros(t time.Time) types.AttributeValue { return dynamoutil.N(t.UnixMicro()) }

// getTime reads a time attribute; the zero time when absent.
func getTime(item map[string]types.AttributeValue, name string) time.Time {
	if _, ok := item[name]; !ok {
		return time.Time{}
	}
	return time.UnixMicro(dynamoutil.GetN(item, name)).UTC()
}

// list is a list of strings as stored.
func list(l []string) types.AttributeValue {
	v := make([]types.AttributeValue, len(l))
	for i, s := range l {
		v[i] = dynamoutil.S(s)
	}
	return &types.AttributeValueMemberL{Value: v}
}

// getList reads a list of strings; nil when absent or empty.
func getList(item map[string]types.AttributeValue, name string) []string {
	l, ok := item[name].(*types.AttributeValueMemberL)
	if !ok || len(l.Value) == 0 {
		return nil
	}
	out := make([]string, len(l.Value))
	for i, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out[i] = s.Value
		}
	}
	return out
}

// keyItem is the item of a key, with write token token.
func keyItem(k tenants.Key, token string) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrPK:     dynamoutil.S(keyPrefix + k.ID),
		attrKeyID:  dynamoutil.S(k.ID),
		attrTenant: dynamoutil.S(k.Tenant),
		attrName:   dynamoutil.S(k.Name),
		attrToken:  dynamoutil.S(token),
	}
	if len(k.Scopes) > 0 {
		item[attrScopes] = list(k.Scopes)
	}
	if len(k.Hash) > 0 {
		item[attrHash] = &types.AttributeValueMemberB{Value: k.Hash}
	}
	for _, t := range []struct {
		name string
		t    time.Time
	}{{attrCreated, k.CreateTime}, {attrLastUse, k.LastUseTime}, {attrRevoked, k.RevokeTime}} {
		if !t.t.IsZero() {
			item[t.name] = micros(t.t)
		}
	}
	return item
}

// decodeKey turns a key item into a key.
func decodeKey(item map[string]types.AttributeValue) tenants.Key {
	k := tenants.Key{
		ID:          dynamoutil.GetS(item, attrKeyID),
		Tenant:      dynamoutil.GetS(item, attrTenant),
		Name:        dynamoutil.GetS(item, attrName),
		Scopes:      getList(item, attrScopes),
		CreateTime:  getTime(item, attrCreated),
		LastUseTime: getTime(item, attrLastUse),
		RevokeTime:  getTime(item, attrRevoked),
	}
	if b, ok := item[attrHash].(*types.AttributeValueMemberB); ok {
		k.Hash = b.Value
	}
	return k
}

// checkKey rejects a key that names no id or tenant.
func checkKey(k tenants.Key) error {
	if k.ID == "" || k.Tenant == "" {
		return fmt.Errorf("dynamotenants: key %q of tenant %q: both are required", k.ID, k.Tenant)
	}
	return nil
}

// CreateKey implements tenants.Store with a PutItem conditioned on the id
// being free.
func (s *Store) CreateKey(ctx context.Context, k tenants.Key) error {
	if err := checkKey(k); err != nil {
		return err
	}
	token := dynamoutil.NewToken()
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.table,
		Item:                                keyItem(k, token),
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(k.ID), err)
	if err != nil {
		return s.wrap("create key "+k.ID, err)
	}
	if dynamoutil.OwnWrite(cur, token) {
		return nil // our own write, retried by the SDK after its reply was lost
	}
	return fmt.Errorf("dynamotenants: create key %s: %w", k.ID, tenants.ErrExists)
}

// PutKey implements tenants.Store with an unconditional PutItem.
func (s *Store) PutKey(ctx context.Context, k tenants.Key) error {
	if err := checkKey(k); err != nil {
		return err
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: keyItem(k, dynamoutil.NewToken())})
	if err != nil {
		return s.wrap("put key "+k.ID, err)
	}
	return nil
}

// GetKey implements tenants.Store with a strongly consistent read.
func (s *Store) GetKey(ctx context.Context, id string) (tenants.Key, error) {
	if id == "" {
		return tenants.Key{}, tenants.ErrNotFound
	}
	item, err := dynamoutil.GetItem(ctx, s.db, s.table, keyOf(id))
	if err != nil {
		return tenants.Key{}, s.wrap("get key "+id, err)
	}
	if item == nil {
		return tenants.Key{}, fmt.Errorf("dynamotenants: get key %s: %w", id, tenants.ErrNotFound)
	}
	return decodeKey(item), nil
}

// RevokeKey implements tenants.Store with an UpdateItem that keeps a
// revoke time already set, and returns the key as it then is.
func (s *Store) RevokeKey(ctx context.Context, id string, t time.Time) (tenants.Key, error) {
	if t.IsZero() {
		return tenants.Key{}, fmt.Errorf("dynamotenants: revoke key %s at the zero time", id)
	}
	if id == "" {
		return tenants.Key{}, tenants.ErrNotFound
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       keyOf(id),
		UpdateExpression:          aws.String("SET #r = if_not_exists(#r, :t)"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": attrRevoked, "#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": micros(t)},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if dynamoutil.IsConditionFailed(err) {
		return tenants.Key{}, fmt.Errorf("dynamotenants: revoke key %s: %w", id, tenants.ErrNotFound)
	}
	if err != nil {
		return tenants.Key{}, s.wrap("revoke key "+id, err)
	}
	return decodeKey(out.Attributes), nil
}

// TouchKey implements tenants.Store with an UpdateItem conditioned on the
// stored last use being older; a failed condition on an existing key is a
// use already recorded.
func (s *Store) TouchKey(ctx context.Context, id string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("dynamotenants: touch key %s at the zero time", id)
	}
	if id == "" {
		return tenants.ErrNotFound
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 keyOf(id),
		UpdateExpression:                    aws.String("SET #u = :t"),
		ConditionExpression:                 aws.String("attribute_exists(#pk) AND (attribute_not_exists(#u) OR #u < :t)"),
		ExpressionAttributeNames:            map[string]string{"#u": attrLastUse, "#pk": attrPK},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":t": micros(t)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(id), err)
	if err != nil {
		return s.wrap("touch key "+id, err)
	}
	if cur == nil {
		return fmt.Errorf("dynamotenants: touch key %s: %w", id, tenants.ErrNotFound)
	}
	return nil // a use as late or later is recorded
}

// GetTenant implements tenants.Store with a strongly consistent read.
func (s *Store) GetTenant(ctx context.Context, name string) (tenants.Tenant, error) {
	if name == "" {
		return tenants.Tenant{}, tenants.ErrNotFound
	}
	item, err := dynamoutil.GetItem(ctx, s.db, s.table, tenantKey(name))
	if err != nil {
		return tenants.Tenant{}, s.wrap("get tenant "+name, err)
	}
	if item == nil {
		return tenants.Tenant{}, fmt.Errorf("dynamotenants: get tenant %s: %w", name, tenants.ErrNotFound)
	}
	return tenants.Tenant{
		Name:           dynamoutil.GetS(item, attrName),
		WebhookSecrets: getList(item, attrSecrets),
		UpdateTime:     getTime(item, attrUpdated),
		Version:        dynamoutil.GetN(item, attrVersion),
	}, nil
}

// PutTenant implements tenants.Store with a PutItem conditioned on the
// tenant being absent (version 0) or at the version read. A zero UpdateTime
// is stored as the time of the write.
func (s *Store) PutTenant(ctx context.Context, t tenants.Tenant) (tenants.Tenant, error) {
	if t.Name == "" {
		return tenants.Tenant{}, errors.New("dynamotenants: put of a tenant without a name")
	}
	if t.UpdateTime.IsZero() {
		t.UpdateTime = s.now()
	}
	t.UpdateTime = time.UnixMicro(t.UpdateTime.UnixMicro()).UTC()
	token := dynamoutil.NewToken()
	in := &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrPK:      dynamoutil.S(tenantPrefix + t.Name),
			attrName:    dynamoutil.S(t.Name),
			attrVersion: dynamoutil.N(t.Version + 1),
			attrUpdated: micros(t.UpdateTime),
			attrToken:   dynamoutil.S(token),
		},
		ExpressionAttributeNames:            map[string]string{},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if len(t.WebhookSecrets) > 0 {
		in.Item[attrSecrets] = list(t.WebhookSecrets)
	}
	if t.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames["#pk"] = attrPK
	} else {
		in.ConditionExpression = aws.String("#v = :expected")
		in.ExpressionAttributeNames["#v"] = attrVersion
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":expected": dynamoutil.N(t.Version)}
	}
	_, err := s.db.PutItem(ctx, in)
	next := t
	next.Version++
	next.WebhookSecrets = getList(in.Item, attrSecrets)
	if err == nil {
		return next, nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, tenantKey(t.Name), err)
	if err != nil {
		return tenants.Tenant{}, s.wrap("put tenant "+t.Name, err)
	}
	if dynamoutil.OwnWrite(cur, token) && dynamoutil.GetN(cur, attrVersion) == next.Version {
		return next, nil // our own write, retried by the SDK after its reply was lost
	}
	return tenants.Tenant{}, fmt.Errorf("dynamotenants: put tenant %s at version %d: %w", t.Name, t.Version, tenants.ErrConflict)
}
