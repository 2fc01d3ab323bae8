package dynamorecords

// Batch counters. Every Create and Update of an image of a batch also
// writes the batch's counter item and a change item:
//
//	pk = "bat#<batch>"        the counter: seq (N), counter (S, JSON of
//	                          records.BatchCounter), wtoken
//	pk = "chg#<batch>#<seq>"  write seq of the batch: image_id (S), created,
//	                          wtoken, expires_at (changeTTL after the write)
//
// With TransactWriteItems (DynamoDB) the three are one transaction: the
// image's write, conditioned as without a batch; the counter, put
// conditioned on the seq it was read at (so concurrent writers of a batch
// serialise on it and retry, re-reading it); and the change item. A
// conditional Update that loses writes nothing, so nothing is counted twice.
//
// Without transactions (dynalite) the writes are made in turn, the image
// first — it is the truth, and a counter must never count a write that did
// not happen — then the counter (conditioned on its seq, re-read until it
// wins), then the change item. A writer that dies, or loses the store for
// longer than its retries, between the image's write and the counter's
// leaves the counter one write behind for good: the batch's summary misses
// that state change (it may then never show complete), and watchers miss
// the change. Between the counter and the change item, only watchers miss
// it. This mode is for emulators; DynamoDB takes the transaction.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

const (
	attrSeq     = "seq"
	attrCounter = "counter"

	counterPrefix = "bat#"
	changePrefix  = "chg#"

	// changeTTL keeps change items for longer than any watch lasts
	// (status.max-watch-duration is at most 24h): a watch starts from
	// the counter and reads only changes made since.
	changeTTL = 25 * time.Hour
	// counterRounds bounds the rounds of a counted write that lose the
	// counter to another writer of the batch.
	counterRounds = 200
	// batchGetMax is the most keys one BatchGetItem takes.
	batchGetMax = 100
)

func counterKey(batch string) string { return counterPrefix + batch }
func changeKey(batch string, seq int64) string {
	return changePrefix + batch + "#" + strconv.FormatInt(seq, 10)
}

// readCounter reads batch's counter consistently: nil when it has none.
func (s *Store) readCounter(ctx context.Context, batch string) (*records.BatchCounter, error) {
	item, err := s.getItem(ctx, counterKey(batch))
	if err != nil {
		return nil, s.wrap("get batch counter", err)
	}
	if item == nil {
		return nil, nil
	}
	c := records.NewBatchCounter("", "")
	if err := json.Unmarshal([]byte(dynamoutil.GetS(item, attrCounter)), c); err != nil {
		return nil, fmt.Errorf("dynamorecords: decode counter of batch %q: %w", batch, err)
	}
	return c, nil
}

// nextCounter reads batch's counter and applies a write of img to it
// (prev: the image before, nil for a Create). It returns the new counter
// and the seq it was read at (0: none yet).
func (s *Store) nextCounter(ctx context.Context, batch string, prev, img *pb.Image) (*records.BatchCounter, int64, error) {
	c, err := s.readCounter(ctx, batch)
	if err != nil {
		return nil, 0, err
	}
	if c == nil {
		c = records.NewBatchCounter("", "")
	}
	read := c.Seq
	c.Apply(prev, img, s.now())
	return c, read, nil
}

// counterPut is the put of counter c of batch, conditioned on the counter
// being still at seq read.
func (s *Store) counterPut(batch string, c *records.BatchCounter, read int64, token string) (*types.Put, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("dynamorecords: encode batch counter: %w", err)
	}
	p := &types.Put{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrPK:      dynamoutil.S(counterKey(batch)),
			attrSeq:     dynamoutil.N(c.Seq),
			attrCounter: dynamoutil.S(string(data)),
			attrToken:   dynamoutil.S(token),
		},
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		ConditionExpression:      aws.String(condNew),
	}
	if read > 0 {
		p.ConditionExpression = aws.String("#seq = :seq")
		p.ExpressionAttributeNames = map[string]string{"#seq": attrSeq}
		p.ExpressionAttributeValues = map[string]types.AttributeValue{":seq": dynamoutil.N(read)}
	}
	return p, nil
}

// changePut is the put of the change item of write seq of batch.
func (s *Store) changePut(batch string, seq int64, imageID, token string) *types.Put {
	now := s.now()
	return &types.Put{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			attrPK:      dynamoutil.S(changeKey(batch, seq)),
			attrImageID: dynamoutil.S(imageID),
			attrCreated: dynamoutil.N(now.UnixMilli()),
			attrToken:   dynamoutil.S(token),
			attrExpires: dynamoutil.N(now.Add(changeTTL).Unix()),
		},
	}
}

// errImageCondition: a counted transaction was cancelled because the
// condition of one of the image's own items (the image, its key) failed.
var errImageCondition = errors.New("dynamorecords: image condition failed")

// writeTx writes the image's items (actions, each with its condition)
// with batch's counter and change item in one transaction, re-reading the
// counter while other writers of the batch win it. errImageCondition when
// the condition of one of actions failed; an UnknownOperationException as
// it came (the caller falls back to writeSeq).
func (s *Store) writeTx(ctx context.Context, batch string, prev, img *pb.Image, actions []types.TransactWriteItem) error {
	token := dynamoutil.NewToken()
	for round := 0; ; round++ {
		c, read, err := s.nextCounter(ctx, batch, prev, img)
		if err != nil {
			return err
		}
		put, err := s.counterPut(batch, c, read, token)
		if err != nil {
			return err
		}
		items := append(slices.Clone(actions), types.TransactWriteItem{Put: put},
			types.TransactWriteItem{Put: s.changePut(batch, c.Seq, img.GetId(), token)})
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			if dynamoutil.IsUnknownOperation(err) {
				return err
			}
			return s.wrap("write "+img.GetId()+" with its batch counter", err)
		}
		for i, r := range tce.CancellationReasons {
			if i < len(actions) && aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return errImageCondition
			}
		}
		// The counter moved on, or another transaction held an item.
		if round == counterRounds {
			return s.wrap("write "+img.GetId()+" with its batch counter", fmt.Errorf("still contended after %d rounds: %w", round, err))
		}
		if err := dynamoutil.Sleep(ctx, contentionPause(round)); err != nil {
			return err
		}
	}
}

// contentionPause is the pause before round+1 of a contended write: a
// few milliseconds, growing, jittered so that racing writers spread out.
func contentionPause(round int) time.Duration {
	ceiling := time.Duration(min(round+1, 20)) * 5 * time.Millisecond
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

// countSeq counts an image's write, already made, in batch's counter and
// writes its change item, without a transaction (see the file comment).
func (s *Store) countSeq(ctx context.Context, batch string, prev, img *pb.Image) error {
	token := dynamoutil.NewToken()
	seq, err := s.putCounterSeq(ctx, batch, prev, img, token)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: s.changePut(batch, seq, img.GetId(), token).Item})
	if err != nil {
		return s.wrap("write the change item of "+img.GetId(), err)
	}
	return nil
}

// putCounterSeq counts a write of img in batch's counter by conditional
// puts, re-reading the counter while other writers win it, and returns the
// write's seq.
func (s *Store) putCounterSeq(ctx context.Context, batch string, prev, img *pb.Image, token string) (int64, error) {
	for round := 0; ; round++ {
		c, read, err := s.nextCounter(ctx, batch, prev, img)
		if err != nil {
			return 0, err
		}
		put, err := s.counterPut(batch, c, read, token)
		if err != nil {
			return 0, err
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression,
			ExpressionAttributeNames: put.ExpressionAttributeNames, ExpressionAttributeValues: put.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return c.Seq, nil
		}
		cur, err := dynamoutil.ConflictItem(ctx, s.db, s.table, keyOf(counterKey(batch)), err)
		if err != nil {
			return 0, s.wrap("count "+img.GetId()+" in its batch (the image is written)", err)
		}
		if dynamoutil.OwnWrite(cur, token) {
			return c.Seq, nil // our put, retried by the SDK after its reply was lost
		}
		if round == counterRounds {
			return 0, fmt.Errorf("dynamorecords: count %s in its batch (the image is written): still contended after %d rounds", img.GetId(), round)
		}
		if err := dynamoutil.Sleep(ctx, contentionPause(round)); err != nil {
			return 0, err
		}
	}
}
