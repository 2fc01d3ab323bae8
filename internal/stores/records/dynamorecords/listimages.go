package dynamorecords

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/dynamoutil"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// ListImages implements records.Store with a Query, newest first, on the
// by_batch index (a batch) or the by_tenant index (the rest); both are
// eventually consistent (see the package doc). The state is a filter
// expression: DynamoDB reads, and charges for, the images it leaves out,
// so Limit counts them and a call evaluates at most
// records.MaxListExamined images. The first Query asks for one image more
// than the page holds, so a listing whose images all match never ends with
// an empty page; each further one (the filter left images out) asks for
// twice as many as the one before, so a sparse state costs few round trips.
func (s *Store) ListImages(ctx context.Context, q records.ListQuery) (records.Page, error) {
	after, err := records.ListAfter(q)
	if err != nil {
		return records.Page{}, err
	}
	in := s.listInput(q)
	if after != "" {
		in.ExclusiveStartKey = s.listKey(q, after)
	}
	b := records.NewPageBuilder(q)
	want := q.Size() + 1
	for {
		room := b.Room()
		if room == 0 {
			return b.Page(true), nil
		}
		in.Limit = aws.Int32(int32(min(room, want)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return records.Page{}, s.wrap("list images", err)
		}
		for _, item := range out.Items {
			ok, err := b.Offer(idOf(item), pb.ImageState(dynamoutil.GetN(item, attrState)),
				func() (*records.Record, error) { return decodeImage(item) })
			if err != nil {
				return records.Page{}, err
			}
			if !ok {
				return b.Page(true), nil
			}
		}
		b.Skipped(int(out.ScannedCount)-len(out.Items), idOf(out.LastEvaluatedKey))
		if len(out.LastEvaluatedKey) == 0 {
			return b.Page(false), nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		want *= 2
	}
}

// listInput is the Query of q's images, newest first.
func (s *Store) listInput(q records.ListQuery) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		ScanIndexForward:          aws.Bool(false),
		KeyConditionExpression:    aws.String("#h = :h"),
		ExpressionAttributeNames:  map[string]string{"#h": attrTenant, "#st": attrState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": dynamoutil.S(q.TenantKey())},
		IndexName:                 aws.String(IndexByTenant),
	}
	if q.BatchID != "" {
		in.IndexName = aws.String(IndexByBatch)
		in.ExpressionAttributeNames["#h"] = attrBatch
		in.ExpressionAttributeValues[":h"] = dynamoutil.S(q.ScopedBatch())
	}
	if q.State == pb.ImageState_IMAGE_STATE_UNSPECIFIED {
		in.FilterExpression = aws.String("#st <> :st")
		in.ExpressionAttributeValues[":st"] = dynamoutil.N(int64(pb.ImageState_IMAGE_STATE_DELETED))
	} else {
		in.FilterExpression = aws.String("#st = :st")
		in.ExpressionAttributeValues[":st"] = dynamoutil.N(int64(q.State))
	}
	return in
}

// listKey is the ExclusiveStartKey of q's Query that continues after
// image id: the table's key and the index's.
func (s *Store) listKey(q records.ListQuery, id string) map[string]types.AttributeValue {
	key := keyOf(imageKey(id))
	if q.BatchID != "" {
		key[attrBatch] = dynamoutil.S(q.ScopedBatch())
	} else {
		key[attrTenant] = dynamoutil.S(q.TenantKey())
	}
	return key
}

// idOf is the image id of an item or key ("" for none).
func idOf(item map[string]types.AttributeValue) string {
	return strings.TrimPrefix(dynamoutil.GetS(item, attrPK), imagePrefix)
}
