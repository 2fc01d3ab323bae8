package dynamorecords

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Page sizes: the default, for pageSize <= 0, and the most one page holds.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageToken is the JSON inside a page token: a version and the index key of
// the last image returned (what DynamoDB's LastEvaluatedKey holds there).
type pageToken struct {
	V   int               `json:"v"`
	Key map[string]string `json:"k"`
}

// ListByBatch implements records.Store with a Query on the by_batch index,
// which is eventually consistent (see the package doc). It reads one image
// more than asked, so the last page never ends with an empty one. Pages hold
// at most maxPageSize images.
func (s *Store) ListByBatch(ctx context.Context, tenant, batchID string, pageSize int, token string) (records.Page, error) {
	batchID = records.Scoped(tenant, batchID)
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	pageSize = min(pageSize, maxPageSize)
	start, err := decodeToken(token, batchID)
	if err != nil || batchID == "" { // images without a batch are in no listing
		return records.Page{}, err
	}
	var items []map[string]types.AttributeValue
	for len(items) <= pageSize { // a reply stops at 1 MB: go on until full
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(IndexByBatch),
			KeyConditionExpression:    aws.String("#b = :b"),
			ExpressionAttributeNames:  map[string]string{"#b": attrBatch},
			ExpressionAttributeValues: map[string]types.AttributeValue{":b": dynamoutil.S(batchID)},
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(int32(pageSize + 1 - len(items))),
		})
		if err != nil {
			return records.Page{}, s.wrap("list batch "+batchID, err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	var page records.Page
	if len(items) > pageSize {
		items = items[:pageSize]
		page.NextPageToken = encodeToken(batchID, dynamoutil.GetS(items[pageSize-1], attrPK))
	}
	for _, item := range items {
		rec, err := decodeImage(item)
		if err != nil {
			return records.Page{}, err
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

func encodeToken(batchID, pk string) string {
	b, _ := json.Marshal(pageToken{V: 1, Key: map[string]string{attrBatch: batchID, attrPK: pk}})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the ExclusiveStartKey of a page token (nil for "").
// A token that is malformed, of another version or of another batch is
// ErrInvalidToken.
func decodeToken(token, batchID string) (map[string]types.AttributeValue, error) {
	if token == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", records.ErrInvalidToken)
	}
	var t pageToken
	if err := json.Unmarshal(raw, &t); err != nil || t.V != 1 {
		return nil, fmt.Errorf("%w: not a version 1 token", records.ErrInvalidToken)
	}
	pk := t.Key[attrPK]
	if len(t.Key) != 2 || t.Key[attrBatch] != batchID || !strings.HasPrefix(pk, imagePrefix) || pk == imagePrefix {
		return nil, fmt.Errorf("%w: not a token of batch %q", records.ErrInvalidToken, batchID)
	}
	return map[string]types.AttributeValue{attrBatch: dynamoutil.S(batchID), attrPK: dynamoutil.S(pk)}, nil
}
