package dynamotenants

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// defaultPageSize is the page size for pageSize 0; maxPageSize the largest
// accepted.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// ListKeys implements tenants.Store: a Query of the by_tenant index for one
// tenant, a Scan of it for every tenant (see the package doc). Both read
// the index, which is eventually consistent.
func (s *Store) ListKeys(ctx context.Context, tenant string, pageSize int, token string) (tenants.KeyPage, error) {
	if pageSize < 0 || pageSize > maxPageSize {
		return tenants.KeyPage{}, fmt.Errorf("dynamotenants: page size %d not in 0..%d", pageSize, maxPageSize)
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	var after *tenants.Key
	if token != "" {
		last, err := tenants.DecodeKeyToken(token, tenant)
		if err != nil {
			return tenants.KeyPage{}, fmt.Errorf("dynamotenants: %w", err)
		}
		after = &last
	}
	var (
		keys []tenants.Key
		err  error
	)
	if tenant != "" {
		keys, err = s.queryTenant(ctx, tenant, after, pageSize+1)
	} else {
		keys, err = s.scanAll(ctx, after, pageSize+1)
	}
	if err != nil {
		return tenants.KeyPage{}, err
	}
	var page tenants.KeyPage
	if len(keys) > pageSize {
		keys = keys[:pageSize]
		page.NextPageToken = tenants.EncodeKeyToken(tenant, keys[pageSize-1])
	}
	page.Keys = keys
	return page, nil
}

// queryTenant returns up to n keys of tenant after the position after (nil:
// from the first), by id.
func (s *Store) queryTenant(ctx context.Context, tenant string, after *tenants.Key, n int) ([]tenants.Key, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexByTenant),
		KeyConditionExpression:    aws.String("#t = :t"),
		ExpressionAttributeNames:  map[string]string{"#t": attrTenant},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": dynamoutil.S(tenant)},
		ScanIndexForward:          aws.Bool(true),
	}
	if after != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK:     dynamoutil.S(keyPrefix + after.ID),
			attrTenant: dynamoutil.S(after.Tenant),
			attrKeyID:  dynamoutil.S(after.ID),
		}
	}
	var keys []tenants.Key
	for len(keys) < n {
		in.Limit = aws.Int32(int32(n - len(keys)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, s.wrap("list keys of "+tenant, err)
		}
		for _, item := range out.Items {
			keys = append(keys, decodeKey(item))
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return keys, nil
}

// scanAll returns the first n keys of every tenant after the position after
// (nil: from the first), by tenant then id: it reads the whole index.
func (s *Store) scanAll(ctx context.Context, after *tenants.Key, n int) ([]tenants.Key, error) {
	in := &dynamodb.ScanInput{TableName: &s.table, IndexName: aws.String(IndexByTenant)}
	var keys []tenants.Key
	for {
		out, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, s.wrap("list keys", err)
		}
		for _, item := range out.Items {
			k := decodeKey(item)
			if after == nil || compareKeys(k.Tenant, k.ID, after.Tenant, after.ID) > 0 {
				keys = append(keys, k)
			}
		}
		// Keep memory to what the page needs.
		if len(keys) > 4*n {
			keys = smallest(keys, n)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return smallest(keys, n), nil
}

// compareKeys orders keys by tenant, then id.
func compareKeys(tenantA, idA, tenantB, idB string) int {
	return cmp.Or(cmp.Compare(tenantA, tenantB), cmp.Compare(idA, idB))
}

// smallest sorts keys by tenant and id and returns the first n.
func smallest(keys []tenants.Key, n int) []tenants.Key {
	slices.SortFunc(keys, func(a, b tenants.Key) int { return compareKeys(a.Tenant, a.ID, b.Tenant, b.ID) })
	return keys[:min(n, len(keys))]
}
