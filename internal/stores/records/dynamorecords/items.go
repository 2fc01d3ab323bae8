package dynamorecords

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

// Attribute names of the table layout (see the package doc).
const (
	attrPK        = "pk"
	attrVersion   = "version"
	attrState     = "state"
	attrBatch     = "batch_id"
	attrTenant    = "tenant"
	attrRecord    = "record"
	attrCreated   = "created"
	attrToken     = dynamoutil.AttrToken
	attrExpires   = "expires_at"
	attrImageID   = "image_id"
	attrCommitted = "committed"

	// IndexByBatch is the name of the global secondary index on batch_id.
	IndexByBatch = "by_batch"
	// IndexByTenant is the name of the global secondary index on tenant.
	IndexByTenant = "by_tenant"

	imagePrefix = "img#"
	keyPrefix   = "key#"
)

func imageKey(id string) string { return imagePrefix + id }
func idemKey(key string) string { return keyPrefix + key }

func keyOf(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamoutil.S(pk)}
}

// marshal encodes an image deterministically.
func marshal(img *pb.Image) ([]byte, error) {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("dynamorecords: encode image: %w", err)
	}
	return data, nil
}

// stamps are the attributes every new item carries: its create time and,
// with a TTL, its expiry.
func (s *Store) stamps(item map[string]types.AttributeValue, token string) map[string]types.AttributeValue {
	now := s.now()
	item[attrCreated] = dynamoutil.N(now.UnixMilli())
	item[attrToken] = dynamoutil.S(token)
	if s.opts.TTL > 0 {
		item[attrExpires] = dynamoutil.N(now.Add(s.opts.TTL).Unix())
	}
	return item
}

// imageItem is the item of a new image at version 1.
func (s *Store) imageItem(img *pb.Image, token string) (map[string]types.AttributeValue, error) {
	data, err := marshal(img)
	if err != nil {
		return nil, err
	}
	item := map[string]types.AttributeValue{
		attrPK:      dynamoutil.S(imageKey(img.GetId())),
		attrVersion: dynamoutil.N(1),
		attrState:   dynamoutil.N(int64(img.GetState())),
		attrRecord:  &types.AttributeValueMemberB{Value: data},
		attrTenant:  dynamoutil.S(records.Tenant(img)),
	}
	if b := records.Scoped(img.GetTenant(), img.GetBatchId()); b != "" {
		item[attrBatch] = dynamoutil.S(b)
	}
	return s.stamps(item, token), nil
}

// keyItem is the item of an idempotency key pointing at image id.
func (s *Store) keyItem(key, id, token string, committed bool) map[string]types.AttributeValue {
	return s.stamps(map[string]types.AttributeValue{
		attrPK:        dynamoutil.S(idemKey(key)),
		attrImageID:   dynamoutil.S(id),
		attrCommitted: &types.AttributeValueMemberBOOL{Value: committed},
	}, token)
}

// decodeImage turns an image item into a record.
func decodeImage(item map[string]types.AttributeValue) (*records.Record, error) {
	b, ok := item[attrRecord].(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("dynamorecords: item %q has no record attribute", dynamoutil.GetS(item, attrPK))
	}
	img := &pb.Image{}
	if err := proto.Unmarshal(b.Value, img); err != nil {
		return nil, fmt.Errorf("dynamorecords: decode %q: %w", dynamoutil.GetS(item, attrPK), err)
	}
	return &records.Record{Image: img, Version: dynamoutil.GetN(item, attrVersion)}, nil
}

// keyState is a decoded idempotency-key item.
type keyState struct {
	imageID   string
	committed bool
	token     string
	created   time.Time
	expiresAt int64 // epoch seconds; 0 without a TTL
}

// decodeKey decodes a key item; ok is false when there is none.
func decodeKey(item map[string]types.AttributeValue) (k keyState, ok bool) {
	if item == nil {
		return k, false
	}
	c, _ := item[attrCommitted].(*types.AttributeValueMemberBOOL)
	return keyState{
		imageID:   dynamoutil.GetS(item, attrImageID),
		committed: c != nil && c.Value,
		token:     dynamoutil.GetS(item, attrToken),
		created:   time.UnixMilli(dynamoutil.GetN(item, attrCreated)),
		expiresAt: dynamoutil.GetN(item, attrExpires),
	}, true
}

// expired reports whether the key's TTL has passed (DynamoDB deletes expired
// items lazily, so they may still be read). It agrees with condNewKey.
func (k keyState) expired(now time.Time) bool {
	return k.expiresAt > 0 && k.expiresAt < now.Unix()
}
