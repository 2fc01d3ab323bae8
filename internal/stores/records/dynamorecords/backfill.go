package dynamorecords

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// backfillTenants sets the tenant attribute, from the record, on every
// image item that lacks it: images written by a version from before the
// by_tenant index, which would otherwise never be listed. It is one Scan
// of the table (DynamoDB charges for every item read, matching or not)
// and one conditional UpdateItem per image without tenant, so a second run
// writes nothing; a page of the Scan (at most 1 MB) is held at a time.
// Images an older version still running writes later get their tenant
// from this version's next write of them.
//
// Once a Scan has gone through the whole table, a marker item
// (backfillMarker) says so, and later runs read only the marker: the
// Scan reads every item of the table, which on a large table costs more
// than a deployment's `imagepipe init` should.
func (s *Store) backfillTenants(ctx context.Context) error {
	done, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: keyOf(backfillMarker), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return s.wrap("read the tenant backfill marker", err)
	}
	if len(done.Item) > 0 {
		return nil
	}
	if err := s.scanTenants(ctx); err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: keyOf(backfillMarker)}); err != nil {
		return s.wrap("write the tenant backfill marker", err)
	}
	return nil
}

// backfillMarker is the key of the item that says backfillTenants has
// been through the whole table.
const backfillMarker = "meta#tenant-backfill"

// scanTenants is backfillTenants' Scan.
func (s *Store) scanTenants(ctx context.Context) error {
	in := &dynamodb.ScanInput{
		TableName:                &s.table,
		FilterExpression:         aws.String("begins_with(#pk, :img) AND attribute_not_exists(#tn)"),
		ProjectionExpression:     aws.String("#pk, #rec"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#tn": attrTenant, "#rec": attrRecord},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":img": dynamoutil.S(imagePrefix),
		},
	}
	for {
		out, err := s.db.Scan(ctx, in)
		if err != nil {
			return s.wrap("scan for images without tenant", err)
		}
		for _, item := range out.Items {
			if err := s.setTenant(ctx, item); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// setTenant sets the tenant of one image item read without it, unless a
// write has set it meanwhile or the image is gone.
func (s *Store) setTenant(ctx context.Context, item map[string]types.AttributeValue) error {
	rec, err := decodeImage(item)
	if err != nil {
		return err
	}
	pk := dynamoutil.GetS(item, attrPK)
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       keyOf(pk),
		UpdateExpression:          aws.String("SET #tn = :tn"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND attribute_not_exists(#tn)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#tn": attrTenant},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tn": dynamoutil.S(records.Tenant(rec.Image))},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return s.wrap(fmt.Sprintf("set tenant of %s", pk), err)
	}
	return nil
}
