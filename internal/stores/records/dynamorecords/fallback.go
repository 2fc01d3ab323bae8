package dynamorecords

// The Create of an image with an idempotency key on an endpoint without
// TransactWriteItems (dynalite). Three conditional writes keep the
// transaction's guarantees — one image per key, no reader ever sees a key
// whose image may still be rolled back — and survive a writer that dies
// between them:
//
//  1. claim: put the key item uncommitted, with our write token, if the key
//     is free (or expired);
//  2. put the image item if the id is free; if not, delete our claim;
//  3. commit: set committed on the key item if it still holds our token; if
//     it does not, our claim was taken over: delete our image.
//
// GetByIdempotencyKey ignores uncommitted keys. A Create that finds the key
// claimed but uncommitted rolls the claim forward (commits it) when the
// claimant's image exists with this key; waits a little while the claim is
// younger than claimTimeout (its writer is between steps); and otherwise
// takes the claim over, conditioned on the claim's token and on it still
// being uncommitted. Commit and take-over are conditional writes on the same
// item, so exactly one of them wins.

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
)

const (
	// claimTimeout is how long an uncommitted claim belongs to its writer;
	// after it the writer is taken to be dead and the claim may be taken
	// over. Its three writes normally take milliseconds.
	claimTimeout = time.Minute
	// claimWait bounds how long a Create waits for another Create of the
	// same key, between its steps, to commit before answering ErrExists.
	claimWait = 2 * time.Second
	// claimPoll is the pause between two looks at such a claim.
	claimPoll = 20 * time.Millisecond
	// claimRounds bounds the rounds of claimKey, whatever happens.
	claimRounds = 200
)

// scopedKey is the form an image's idempotency key is claimed under.
func scopedKey(img *pb.Image) string { return records.Scoped(img.GetTenant(), img.GetIdempotencyKey()) }

// createSeq creates an image with an idempotency key without a transaction.
func (s *Store) createSeq(ctx context.Context, img *pb.Image, item map[string]types.AttributeValue, token string) error {
	key, id := scopedKey(img), img.GetId()
	if err := s.claimKey(ctx, key, id, token); err != nil {
		return err
	}
	if err := s.putImage(ctx, item, token); err != nil {
		return errors.Join(err, s.deleteIfToken(ctx, idemKey(key), token))
	}
	err := s.setCommitted(ctx, key, token)
	if err == nil {
		return nil
	}
	// Taken over (we were too slow), or the commit's outcome is unknown:
	// undo both writes as far as they are still ours.
	rerr := errors.Join(s.deleteIfToken(ctx, imageKey(id), token), s.deleteIfToken(ctx, idemKey(key), token))
	if dynamoutil.IsConditionFailed(err) {
		return errors.Join(fmt.Errorf("dynamorecords: create %s: key claim taken over: %w", id, records.ErrExists), rerr)
	}
	return errors.Join(s.wrap("commit key of "+id, err), rerr)
}

// claimKey puts the key item uncommitted with our token, resolving a claim
// another Create holds as described above. ErrExists when the key is taken.
func (s *Store) claimKey(ctx context.Context, key, id, token string) error {
	deadline := s.now().Add(claimWait)
	for round := 0; ; round++ {
		if round == claimRounds {
			return fmt.Errorf("dynamorecords: idempotency key claim did not settle: %w", records.ErrExists)
		}
		err := s.putKeyClaim(ctx, key, id, token, condNewKey, namesNewKey,
			map[string]types.AttributeValue{":now": dynamoutil.N(s.now().Unix())})
		if !dynamoutil.IsConditionFailed(err) {
			return err // claimed, or failed
		}
		cur, err := s.getItem(ctx, idemKey(key))
		if err != nil {
			return s.wrap("read key claim", err)
		}
		k, ok := decodeKey(cur)
		switch {
		case !ok:
			continue // released meanwhile: claim again
		case k.token == token:
			return nil // our own claim, retried by the SDK
		case k.committed && !k.expired(s.now()):
			return fmt.Errorf("dynamorecords: idempotency key taken: %w", records.ErrExists)
		case k.committed:
			continue // expired meanwhile: claim again
		}
		done, err := s.rollForward(ctx, key, k)
		if err != nil || done {
			return err
		}
		if s.now().Sub(k.created) < claimTimeout {
			if s.now().After(deadline) {
				return fmt.Errorf("dynamorecords: idempotency key being claimed by another create: %w", records.ErrExists)
			}
			if err := dynamoutil.Sleep(ctx, claimPoll); err != nil {
				return err
			}
			continue
		}
		// Abandoned: take it over, unless it changed since we read it.
		err = s.putKeyClaim(ctx, key, id, token, "#tok = :old AND #c = :false",
			map[string]string{"#tok": attrToken, "#c": attrCommitted},
			map[string]types.AttributeValue{":old": dynamoutil.S(k.token), ":false": &types.AttributeValueMemberBOOL{Value: false}})
		if !dynamoutil.IsConditionFailed(err) {
			return err
		}
	}
}

// rollForward commits another Create's claim if that Create's image exists
// with this key (its writer died or is slow between steps 2 and 3). done
// reports ErrExists as the outcome; a claim that changed meanwhile is left
// for the caller to read again.
func (s *Store) rollForward(ctx context.Context, key string, k keyState) (done bool, err error) {
	item, err := s.getItem(ctx, imageKey(k.imageID))
	if err != nil {
		return true, s.wrap("read claimed image", err)
	}
	if item == nil {
		return false, nil
	}
	rec, err := decodeImage(item)
	if err != nil || scopedKey(rec.Image) != key {
		return false, nil // not the claimant's image: the claim is stale
	}
	err = s.setCommitted(ctx, key, k.token)
	switch {
	case err == nil:
		return true, fmt.Errorf("dynamorecords: idempotency key taken: %w", records.ErrExists)
	case dynamoutil.IsConditionFailed(err):
		return false, nil
	default:
		return true, s.wrap("commit claimed key", err)
	}
}

// putKeyClaim puts an uncommitted key item with our token under cond.
func (s *Store) putKeyClaim(ctx context.Context, key, id, token, cond string, names map[string]string, values map[string]types.AttributeValue) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      s.keyItem(key, id, token, false),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil && !dynamoutil.IsConditionFailed(err) {
		return s.wrap("claim idempotency key", err)
	}
	return err
}

// setCommitted commits the key item if it still carries token. Setting it
// twice is harmless, so the SDK may retry it.
func (s *Store) setCommitted(ctx context.Context, key, token string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      keyOf(idemKey(key)),
		UpdateExpression:         aws.String("SET #c = :true"),
		ConditionExpression:      aws.String("#tok = :tok"),
		ExpressionAttributeNames: map[string]string{"#c": attrCommitted, "#tok": attrToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
			":tok":  dynamoutil.S(token),
		},
	})
	return err
}

// deleteIfToken deletes an item if its last write was ours; an item that is
// gone or was written since is left alone.
func (s *Store) deleteIfToken(ctx context.Context, pk, token string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       keyOf(pk),
		ConditionExpression:       aws.String("#tok = :tok"),
		ExpressionAttributeNames:  map[string]string{"#tok": attrToken},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tok": dynamoutil.S(token)},
	})
	if err != nil && !dynamoutil.IsConditionFailed(err) {
		return s.wrap("undo "+pk, err)
	}
	return nil
}
