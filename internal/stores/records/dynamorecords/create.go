package dynamorecords

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

// txConflictRetries bounds the retries of a transaction cancelled only
// because another transaction held one of its items.
const txConflictRetries = 5

// Conditions of new items. A key item whose TTL has passed may be claimed
// again before DynamoDB gets round to deleting it.
const (
	condNew    = "attribute_not_exists(#pk)"
	condNewKey = "attribute_not_exists(#pk) OR #exp < :now"
)

var namesNewKey = map[string]string{"#pk": attrPK, "#exp": attrExpires}

// Create implements records.Store: a conditional put of the image or, with
// an idempotency key or a batch, a transaction claiming the id and the key
// and counting the image in its batch's counter.
func (s *Store) Create(ctx context.Context, img *pb.Image) (*records.Record, error) {
	if img.GetId() == "" {
		return nil, errors.New("dynamorecords: create of an image without id")
	}
	token := dynamoutil.NewToken()
	item, err := s.imageItem(img, token)
	if err != nil {
		return nil, err
	}
	batch := records.Scoped(img.GetTenant(), img.GetBatchId())
	keyed := img.GetIdempotencyKey() != ""
	seq := s.noTx.Load() || !keyed && batch == ""
	if !seq {
		err = s.createTx(ctx, img, item, token, batch)
		if seq = dynamoutil.IsUnknownOperation(err); seq {
			s.noTx.Store(true)
		}
	}
	if seq {
		if keyed {
			err = s.createSeq(ctx, img, item, token)
		} else {
			err = s.putImage(ctx, item, token)
		}
		if err == nil && batch != "" {
			err = s.countSeq(ctx, batch, nil, img)
		}
	}
	if err != nil {
		return nil, err
	}
	return &records.Record{Image: proto.Clone(img).(*pb.Image), Version: 1}, nil
}

// putImage writes a new image item if its id is free. A failed condition
// on an item carrying our own token is our write, retried by the SDK after
// its reply was lost, and so a success.
func (s *Store) putImage(ctx context.Context, item map[string]types.AttributeValue, token string) error {
	pk := dynamoutil.GetS(item, attrPK)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.table,
		Item:                                item,
		ConditionExpression:                 aws.String(condNew),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(pk), err)
	if err != nil {
		return s.wrap("create "+pk, err)
	}
	if dynamoutil.OwnWrite(cur, token) {
		return nil
	}
	return fmt.Errorf("dynamorecords: create %s: %w", pk, records.ErrExists)
}

// createTx writes the image, its key item if it has a key, and its
// batch's counter and change item if it has a batch, in one transaction.
// The SDK gives every call a ClientRequestToken, so its own retries are
// idempotent.
func (s *Store) createTx(ctx context.Context, img *pb.Image, item map[string]types.AttributeValue, token, batch string) error {
	actions := []types.TransactWriteItem{{Put: &types.Put{
		TableName:                &s.table,
		Item:                     item,
		ConditionExpression:      aws.String(condNew),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	}}}
	if img.GetIdempotencyKey() != "" {
		actions = append(actions, types.TransactWriteItem{Put: &types.Put{
			TableName:                 &s.table,
			Item:                      s.keyItem(scopedKey(img), img.GetId(), token, true),
			ConditionExpression:       aws.String(condNewKey),
			ExpressionAttributeNames:  namesNewKey,
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamoutil.N(s.now().Unix())},
		}})
	}
	if batch != "" {
		err := s.writeTx(ctx, batch, nil, img, actions)
		if errors.Is(err, errImageCondition) {
			return fmt.Errorf("dynamorecords: create %s: id or idempotency key taken: %w", img.GetId(), records.ErrExists)
		}
		return err
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: actions}
	for attempt := 0; ; attempt++ {
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if errors.As(err, &tce) {
			if hasReason(tce, "ConditionalCheckFailed") {
				return fmt.Errorf("dynamorecords: create %s: id or idempotency key taken: %w", img.GetId(), records.ErrExists)
			}
			if hasReason(tce, "TransactionConflict") && attempt < txConflictRetries {
				if err := dynamoutil.Sleep(ctx, time.Duration(attempt+1)*20*time.Millisecond); err != nil {
					return err
				}
				continue
			}
		}
		return s.wrap("create "+img.GetId(), err)
	}
}

// hasReason reports whether any item of a cancelled transaction failed
// with code.
func hasReason(tce *types.TransactionCanceledException, code string) bool {
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == code {
			return true
		}
	}
	return false
}
