package dynamorecords_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/dynamotest"
)

// oldTable creates the table as a version from before tenant listings
// made it (key pk, the by_batch index alone), deleted when the test ends.
func oldTable(t *testing.T, db *dynamodb.Client) string {
	t.Helper()
	table := awstest.Name("records")
	s := func(name string) *string { return aws.String(name) }
	_, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   &table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: s("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: s("batch_id"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: s("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: s("by_batch"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: s("batch_id"), KeyType: types.KeyTypeHash},
				{AttributeName: s("pk"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	})
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(context.Background(), &dynamodb.DescribeTableInput{TableName: &table}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return table
}

// recorder is an HTTP client for the SDK that keeps the bodies of the
// UpdateTable requests it sends on.
type recorder struct {
	mu      sync.Mutex
	updates [][]byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	if dynamotest.Operation(req) == "UpdateTable" {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.mu.Lock()
		r.updates = append(r.updates, body)
		r.mu.Unlock()
	}
	return http.DefaultClient.Do(req)
}

// oldImages creates images of three tenants through s and removes their
// tenant attribute, as a version from before by_tenant wrote them; it
// returns their ids by tenant, newest first.
func oldImages(t *testing.T, s *dynamorecords.Store, db *dynamodb.Client) map[string][]string {
	t.Helper()
	ctx := context.Background()
	want := map[string][]string{}
	for i := range 9 {
		img := newImage(t, []string{"", "trip"}[i%2], []string{"", "key" + strconv.Itoa(i)}[i%2])
		img.Tenant = []string{"", "acme", "globex"}[i%3]
		if _, err := s.Create(ctx, img); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:        aws.String(s.Table()),
			Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "img#" + img.Id}},
			UpdateExpression: aws.String("REMOVE tenant"),
		}); err != nil {
			t.Fatal(err)
		}
		tenant := records.Tenant(img)
		want[tenant] = slices.Insert(want[tenant], 0, img.Id)
	}
	return want
}

// wantListed checks that ListImages lists want's images under their
// tenants, newest first, and that by_tenant holds images only.
func wantListed(t *testing.T, s *dynamorecords.Store, db *dynamodb.Client, want map[string][]string) {
	t.Helper()
	ctx := context.Background()
	n := 0
	for tenant, ids := range want {
		n += len(ids)
		page, err := s.ListImages(ctx, records.ListQuery{Tenant: tenant})
		var got []string
		for _, r := range page.Records {
			got = append(got, r.Image.GetId())
		}
		if err != nil || !slices.Equal(got, ids) || page.NextPageToken != "" {
			t.Errorf("tenant %s: listed %v, token %q, %v; want %v", tenant, got, page.NextPageToken, err, ids)
		}
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table()), IndexName: aws.String("by_tenant")})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range out.Items {
		if pk := item["pk"].(*types.AttributeValueMemberS).Value; !strings.HasPrefix(pk, "img#") {
			t.Errorf("by_tenant holds %s", pk)
		}
	}
	if len(out.Items) != n {
		t.Errorf("by_tenant holds %d items, want the %d images", len(out.Items), n)
	}
}

// EnsureTable on a table made before tenant listings (by_batch alone)
// asks DynamoDB to add by_tenant: tenant (HASH) and pk (RANGE), projection
// ALL, no throughput on a table billed per request. dynalite (4.0.0)
// validates that request but never carries out an index creation (and
// asks for a throughput), so there EnsureTable must fail naming the index;
// where the endpoint adds it, the images written before are listed.
func TestEnsureTableAddsTenantIndex(t *testing.T) {
	rec := &recorder{}
	cfg := dynamotest.Config(t, rec)
	db := dynamodb.NewFromConfig(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	table := oldTable(t, db)
	s, err := dynamorecords.New(ctx, cfg, table, dynamorecords.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := oldImages(t, s, db)
	err = s.EnsureTable(ctx)
	rec.mu.Lock()
	updates := rec.updates
	rec.mu.Unlock()
	if len(updates) == 0 {
		t.Fatalf("EnsureTable = %v and sent no UpdateTable", err)
	}
	var got any
	if err := json.Unmarshal(updates[0], &got); err != nil {
		t.Fatal(err)
	}
	wantReq := map[string]any{
		"TableName": table,
		"AttributeDefinitions": []any{
			map[string]any{"AttributeName": "tenant", "AttributeType": "S"},
			map[string]any{"AttributeName": "pk", "AttributeType": "S"},
		},
		"GlobalSecondaryIndexUpdates": []any{map[string]any{"Create": map[string]any{
			"IndexName": "by_tenant",
			"KeySchema": []any{
				map[string]any{"AttributeName": "tenant", "KeyType": "HASH"},
				map[string]any{"AttributeName": "pk", "KeyType": "RANGE"},
			},
			"Projection": map[string]any{"ProjectionType": "ALL"},
		}}},
	}
	if !reflect.DeepEqual(got, wantReq) {
		t.Errorf("UpdateTable request\n%s\nwant\n%v", updates[0], wantReq)
	}
	if err != nil {
		if !strings.Contains(err.Error(), "by_tenant") {
			t.Fatalf("EnsureTable = %v, want an error naming by_tenant", err)
		}
		t.Logf("the endpoint does not add the index (dynalite): %v", err)
		return
	}
	wantListed(t, s, db, want)
}

// EnsureTable sets the tenant of the images written before by_tenant, so
// they are listed under their tenants; the index holds images only.
func TestEnsureTableBackfillsTenants(t *testing.T) {
	e := newEnv(t, transaction)
	s := e.store(t, dynamorecords.Options{})
	want := oldImages(t, s, e.db)
	page, err := s.ListImages(context.Background(), records.ListQuery{})
	if err != nil || len(page.Records) != 0 {
		t.Fatalf("before EnsureTable: %d images listed, %v; want none (no tenant attribute)", len(page.Records), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 { // the second run finds nothing to do
		if err := s.EnsureTable(ctx); err != nil {
			t.Fatal(err)
		}
		wantListed(t, s, e.db, want)
	}
}

// An image written before by_tenant gets its tenant from its next write,
// even before EnsureTable runs.
func TestUpdateSetsMissingTenant(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			ctx := context.Background()
			s := e.store(t, dynamorecords.Options{})
			for _, batch := range []string{"", "trip"} {
				img := newImage(t, batch, "")
				img.Tenant = "acme"
				rec, err := s.Create(ctx, img)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:        aws.String(s.Table()),
					Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "img#" + img.Id}},
					UpdateExpression: aws.String("REMOVE tenant"),
				}); err != nil {
					t.Fatal(err)
				}
				rec.Image.State = pb.ImageState_IMAGE_STATE_QUEUED
				if _, err := s.Update(ctx, rec); err != nil {
					t.Fatal(err)
				}
				item := e.item(t, s.Table(), "img#"+img.Id)
				if v, ok := item["tenant"].(*types.AttributeValueMemberS); !ok || v.Value != "acme" {
					t.Errorf("batch %q: tenant after an update = %v, want acme", batch, item["tenant"])
				}
			}
		})
	}
}
