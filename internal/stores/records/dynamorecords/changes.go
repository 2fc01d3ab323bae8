package dynamorecords

import (
	"context"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// BatchChanges implements records.Store: the change items of the range,
// then the images they name, each with consistent BatchGetItem reads, a
// hundred keys at a time. A change item missing (a writer without
// transactions died before writing it, see counter.go) is skipped.
func (s *Store) BatchChanges(ctx context.Context, tenant, batchID string, after, upTo int64) ([]*records.Record, error) {
	batch := records.Scoped(tenant, batchID)
	upTo = min(upTo, after+records.MaxBatchChanges)
	if batch == "" || upTo <= after {
		return nil, nil
	}
	var keys []string
	for seq := after + 1; seq <= upTo; seq++ {
		keys = append(keys, changeKey(batch, seq))
	}
	changes, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, s.wrap("read the changes of batch "+batch, err)
	}
	// Each image once, at its last write in the range.
	last := map[string]int64{}
	for _, item := range changes {
		seq := seqOf(dynamoutil.GetS(item, attrPK))
		if id := dynamoutil.GetS(item, attrImageID); id != "" && seq > last[id] {
			last[id] = seq
		}
	}
	ids := make([]string, 0, len(last))
	for id := range last {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return last[ids[i]] < last[ids[j]] })
	imageKeys := make([]string, len(ids))
	for i, id := range ids {
		imageKeys[i] = imageKey(id)
	}
	items, err := s.batchGet(ctx, imageKeys)
	if err != nil {
		return nil, s.wrap("read the changed images of batch "+batch, err)
	}
	byPK := map[string]map[string]types.AttributeValue{}
	for _, item := range items {
		byPK[dynamoutil.GetS(item, attrPK)] = item
	}
	var out []*records.Record
	for _, pk := range imageKeys {
		if item, ok := byPK[pk]; ok {
			rec, err := decodeImage(item)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// seqOf is the seq at the end of a change item's key.
func seqOf(pk string) int64 {
	i := len(pk)
	for i > 0 && pk[i-1] >= '0' && pk[i-1] <= '9' {
		i--
	}
	var n int64
	for _, c := range pk[i:] {
		n = n*10 + int64(c-'0')
	}
	return n
}

// batchGet reads the items of keys (pk values) consistently, those that
// exist, in no particular order.
func (s *Store) batchGet(ctx context.Context, keys []string) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for chunk := range slices.Chunk(keys, batchGetMax) {
		req := map[string]types.KeysAndAttributes{s.table: {ConsistentRead: aws.Bool(true)}}
		ka := req[s.table]
		for _, k := range chunk {
			ka.Keys = append(ka.Keys, keyOf(k))
		}
		req[s.table] = ka
		for round := 0; len(req) > 0; round++ {
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, err
			}
			out = append(out, res.Responses[s.table]...)
			req = res.UnprocessedKeys
			if len(req) > 0 {
				if err := dynamoutil.Sleep(ctx, contentionPause(round)); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}
