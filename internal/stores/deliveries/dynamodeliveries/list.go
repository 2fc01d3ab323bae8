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
	items, next, err := s.query(ctx, s.queryInput(f), f, start, pageSize)
	if err != nil {
		return deliveries.Page{}, err
	}
	page := deliveries.Page{NextPageToken: next}
	if len(items) > pageSize {
		items = items[:pageSize]
		page.NextPageToken = encodeToken(f, items[pageSize-1])
	}
	if page.Records, err = decodeAll(items); err != nil {
		return deliveries.Page{}, err
	}
	return page, nil
}

// queryInput is the Query of f's deliveries on the by_created index, newest
// first, without its start key and limit.
func (s *Store) queryInput(f deliveries.Filter) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexByCreated),
		KeyConditionExpression:    aws.String("#log = :log"),
		ExpressionAttributeNames:  map[string]string{"#log": attrLog},
		ExpressionAttributeValues: map[string]types.AttributeValue{":log": dynamoutil.S(logValue)},
		ScanIndexForward:          aws.Bool(false),
	}
	if conds := filterConditions(f, in.ExpressionAttributeNames, in.ExpressionAttributeValues); len(conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(conds, " AND "))
	}
	return in
}

// filterConditions are the FilterExpression conditions of f; it adds their
// attribute names and values to names and values.
func filterConditions(f deliveries.Filter, names map[string]string, values map[string]types.AttributeValue) []string {
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
			names["#"+c.ref] = c.attr
			values[":"+c.ref] = c.value
		}
	}
	if f.Tenant != "" {
		cond := "#tn = :tn"
		if f.Tenant == deliveries.DefaultTenant { // and the deliveries without a tenant
			cond = "(attribute_not_exists(#tn) OR #tn = :tn)"
		}
		conds = append(conds, cond)
		names["#tn"] = attrTenant
		values[":tn"] = dynamoutil.S(f.Tenant)
	}
	return conds
}

// query runs in from start until it has read pageSize+1 items or the index
// ends. After s.maxQueries calls it stops short, with next the token to go
// on from where the index was read to.
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, f deliveries.Filter, start map[string]types.AttributeValue, pageSize int) (items []map[string]types.AttributeValue, next string, err error) {
	for q := 0; len(items) <= pageSize; q++ {
		if q == s.maxQueries { // short page: go on from where the index was read to
			return items, encodeToken(f, start), nil
		}
		limit := pageSize + 1 - len(items)
		if in.FilterExpression != nil {
			limit = max(limit, s.minFilteredLimit)
		}
		in.ExclusiveStartKey, in.Limit = start, aws.Int32(int32(limit))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", s.wrap("list", err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	return items, "", nil
}

// decodeAll decodes the delivery items of a page.
func decodeAll(items []map[string]types.AttributeValue) ([]*deliveries.Record, error) {
	var recs []*deliveries.Record
	for _, item := range items {
		rec, err := decode(item)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
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
