package dynamodeliveries

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
)

const (
	// defaultPageSize is the page size for pageSize 0; maxPageSize the
	// largest accepted.
	defaultPageSize = 100
	maxPageSize     = 1000
	// minFilteredLimit is the fewest index items a filtered Query reads, so
	// that a selective filter does not take one round trip per item.
	minFilteredLimit = 100
	// maxQueries bounds the Query calls of one List; past it the page is
	// returned short, with a token to go on.
	maxQueries = 20
)

// List implements deliveries.Store with a Query on the by_created index,
// newest first, which is eventually consistent (see the package doc). It
// reads one delivery more than asked, so the last page is never followed by
// an empty one.
func (s *Store) List(ctx context.Context, f deliveries.Filter, pageSize int, token string) (deliveries.Page, error) {
	if pageSize < 0 || pageSize > maxPageSize {
		return deliveries.Page{}, fmt.Errorf("dynamodeliveries: page size %d not in 0..%d", pageSize, maxPageSize)
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	start, err := decodeToken(token, f)
	if err != nil {
		return deliveries.Page{}, err
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexByCreated),
		KeyConditionExpression:    aws.String("#log = :log"),
		ExpressionAttributeNames:  map[string]string{"#log": attrLog},
		ExpressionAttributeValues: map[string]types.AttributeValue{":log": dynamoutil.S(logValue)},
		ScanIndexForward:          aws.Bool(false),
	}
	var conds []string
	for _, c := range []struct {
		attr, ref string
		value     types.AttributeValue
		set       bool
	}{
		{attrState, "st", dynamoutil.N(int64(f.State)), f.State != 0},
		{attrImage, "img", dynamoutil.S(f.ImageID), f.ImageID != ""},
		{attrBatch, "b", dynamoutil.S(f.BatchID), f.BatchID != ""},
	} {
		if c.set {
			conds = append(conds, "#"+c.ref+" = :"+c.ref)
			in.ExpressionAttributeNames["#"+c.ref] = c.attr
			in.ExpressionAttributeValues[":"+c.ref] = c.value
		}
	}
	if f.Tenant != "" {
		cond := "#tn = :tn"
		if f.Tenant == deliveries.DefaultTenant { // and the deliveries without a tenant
			cond = "(attribute_not_exists(#tn) OR #tn = :tn)"
		}
		conds = append(conds, cond)
		in.ExpressionAttributeNames["#tn"] = attrTenant
		in.ExpressionAttributeValues[":tn"] = dynamoutil.S(f.Tenant)
	}
	if len(conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(conds, " AND "))
	}
	var (
		items []map[string]types.AttributeValue
		page  deliveries.Page
	)
	for q := 0; len(items) <= pageSize; q++ {
		if q == s.maxQueries { // short page: go on from where the index was read to
			page.NextPageToken = encodeToken(f, start)
			break
		}
		limit := pageSize + 1 - len(items)
		if len(conds) > 0 {
			limit = max(limit, s.minFilteredLimit)
		}
		in.ExclusiveStartKey, in.Limit = start, aws.Int32(int32(limit))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return deliveries.Page{}, s.wrap("list", err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	if len(items) > pageSize {
		items = items[:pageSize]
		page.NextPageToken = encodeToken(f, items[pageSize-1])
	}
	for _, item := range items {
		rec, err := decode(item)
		if err != nil {
			return deliveries.Page{}, err
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

// encodeToken makes the token continuing after the index position of key
// (an item, or a LastEvaluatedKey of the index).
func encodeToken(f deliveries.Filter, key map[string]types.AttributeValue) string {
	return deliveries.EncodeToken(f, dynamoutil.GetN(key, attrCreated), dynamoutil.GetS(key, attrPK))
}

// decodeToken returns the ExclusiveStartKey of a page token (nil for "").
// A token that is malformed, of another version or of another filter is
// ErrInvalidToken.
func decodeToken(token string, f deliveries.Filter) (map[string]types.AttributeValue, error) {
	if token == "" {
		return nil, nil
	}
	created, id, err := deliveries.DecodeToken(token, f)
	if err != nil {
		return nil, fmt.Errorf("dynamodeliveries: %w", err)
	}
	return map[string]types.AttributeValue{
		attrPK:      dynamoutil.S(id),
		attrLog:     dynamoutil.S(logValue),
		attrCreated: dynamoutil.N(created),
	}, nil
}
