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
// from this version's next write of them, or from running it again.
func (s *Store) backfillTenants(ctx context.Context) error {
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
