package dynamodeliveries_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries/deliveriestest"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries/dynamodeliveries"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/dynamotest"
	"google.golang.org/protobuf/proto"
)

// env is the AWS configuration of one test (see dynamotest.Env), which
// makes the stores.
type env struct{ *dynamotest.Env }

func newEnv(t *testing.T) env { return env{dynamotest.NewEnv(t)} }

// store returns a store on a new table, made by EnsureTable and deleted when
// the test ends.
func (e env) store(t *testing.T, opts dynamodeliveries.Options) *dynamodeliveries.Store {
	t.Helper()
	s := e.storeOn(t, awstest.Name("deliveries"), opts)
	e.ensure(t, s)
	return s
}

// ensure runs EnsureTable and deletes the table when the test ends.
func (e env) ensure(t *testing.T, s *dynamodeliveries.Store) {
	t.Helper()
	dynamotest.EnsureTable(t, e.DB, s.Table(), s.EnsureTable)
}

// storeOn returns a store on an existing (or missing) table.
func (e env) storeOn(t *testing.T, table string, opts dynamodeliveries.Options) *dynamodeliveries.Store {
	t.Helper()
	s, err := dynamodeliveries.New(context.Background(), e.Cfg, table, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The conformance suite, each subtest on a fresh table.
func TestConformance(t *testing.T) {
	e := newEnv(t)
	deliveriestest.Run(t, func(t *testing.T) deliveries.Store {
		return e.store(t, dynamodeliveries.Options{})
	})
}

func TestEnsureTableIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := e.store(t, dynamodeliveries.Options{}) // creates the table
	d := deliveriestest.NewDelivery(t, "img-1", "b1", time.Now())
	if _, err := a.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	b := e.storeOn(t, a.Table(), dynamodeliveries.Options{TTL: time.Hour})
	for i, s := range []*dynamodeliveries.Store{a, b, a} {
		if err := s.EnsureTable(ctx); err != nil {
			t.Fatalf("EnsureTable #%d on an existing table: %v", i+2, err)
		}
	}
	got, err := b.Get(ctx, d.Id)
	if err != nil || !proto.Equal(got.Delivery, d) {
		t.Fatalf("after EnsureTable again: %v, %v; want the delivery kept", got, err)
	}
	page, err := b.List(ctx, deliveries.Filter{BatchID: "b1"}, 10, "")
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("List after EnsureTable again: %d records, %v; want 1", len(page.Records), err)
	}
}

// EnsureTable refuses a table of the same name and another layout.
func TestEnsureTableChecksLayout(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := dynamotest.PlainTable(t, e.DB, "deliveries")
	err := e.storeOn(t, table, dynamodeliveries.Options{}).EnsureTable(ctx)
	if err == nil || !strings.Contains(err.Error(), dynamodeliveries.IndexByCreated) {
		t.Fatalf("EnsureTable on a table without the index = %v, want an error naming %s", err, dynamodeliveries.IndexByCreated)
	}
}

func TestMissingTable(t *testing.T) {
	e := newEnv(t)
	s := e.storeOn(t, awstest.Name("missing"), dynamodeliveries.Options{})
	ctx := context.Background()
	d := deliveriestest.NewDelivery(t, "", "", time.Now())
	if _, err := s.Get(ctx, d.Id); !errors.Is(err, dynamodeliveries.ErrNoTable) || errors.Is(err, deliveries.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNoTable (and not ErrNotFound)", err)
	}
	if _, err := s.Create(ctx, d); !errors.Is(err, dynamodeliveries.ErrNoTable) {
		t.Errorf("Create = %v, want ErrNoTable", err)
	}
	if _, err := s.Update(ctx, &deliveries.Record{Delivery: d, Version: 1}); !errors.Is(err, dynamodeliveries.ErrNoTable) {
		t.Errorf("Update = %v, want ErrNoTable", err)
	}
	if _, err := s.List(ctx, deliveries.Filter{}, 10, ""); !errors.Is(err, dynamodeliveries.ErrNoTable) {
		t.Errorf("List = %v, want ErrNoTable", err)
	}
}

// Opened with the status store's URL, the log is the table STATUS-webhooks,
// and its items have the documented attributes.
func TestOpenByStatusURLAndItemLayout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	status := awstest.Name("status")
	e.ensure(t, e.storeOn(t, dynamodeliveries.TableName(status), dynamodeliveries.Options{}))
	table := status + "-webhooks"
	for _, tc := range []struct {
		query string
		ttl   time.Duration
	}{{"", 0}, {"?ttl=2h", 2 * time.Hour}} {
		s, err := deliveries.Open(ctx, "dynamodb://"+status+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		created := time.Date(2026, 1, 2, 3, 4, 5, 678912345, time.UTC)
		d := deliveriestest.NewDelivery(t, "img-1", "", created)
		before := time.Now()
		rec, err := s.Create(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		item := dynamotest.Item(t, e.DB, table, d.Id)
		if item == nil {
			t.Fatalf("ttl %v: no item %s in table %s", tc.ttl, d.Id, table)
		}
		if c, _ := dynamotest.Num(t, item, "created"); c != created.UnixMicro() {
			t.Errorf("created = %d, want create_time in unix microseconds %d", c, created.UnixMicro())
		}
		if v, _ := dynamotest.Num(t, item, "version"); v != 1 {
			t.Errorf("version = %d, want 1", v)
		}
		if st, _ := dynamotest.Num(t, item, "state"); st != int64(d.State) {
			t.Errorf("state = %d, want %d", st, d.State)
		}
		for name, want := range map[string]string{"log": "d", "image_id": "img-1", "tenant": "acme"} {
			if v, ok := item[name].(*types.AttributeValueMemberS); !ok || v.Value != want {
				t.Errorf("%s = %v, want %q", name, item[name], want)
			}
		}
		if tok, ok := item["wtoken"].(*types.AttributeValueMemberS); !ok || len(tok.Value) < 16 {
			t.Errorf("wtoken = %v, want a random token", item["wtoken"])
		}
		if _, ok := item["batch_id"]; ok {
			t.Errorf("batch_id = %v on a delivery without a batch", item["batch_id"])
		}
		exp, ok := dynamotest.Num(t, item, "expires_at")
		if tc.ttl == 0 && ok {
			t.Errorf("expires_at = %d without a TTL", exp)
		}
		if lo, hi := before.Add(tc.ttl).Unix(), after.Add(tc.ttl).Unix()+1; tc.ttl > 0 && (!ok || exp < lo || exp > hi) {
			t.Errorf("expires_at = %d (present %v), want in [%d, %d]", exp, ok, lo, hi)
		}

		// Update moves the indexed attributes with the record.
		upd := proto.Clone(rec.Delivery).(*pb.WebhookDelivery)
		upd.State, upd.ImageId, upd.BatchId = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED, "", "b9"
		upd.Tenant = ""
		if _, err := s.Update(ctx, &deliveries.Record{Delivery: upd, Version: 1}); err != nil {
			t.Fatal(err)
		}
		item = dynamotest.Item(t, e.DB, table, d.Id)
		for _, name := range []string{"image_id", "tenant"} {
			if _, ok := item[name]; ok {
				t.Errorf("%s = %v after an update cleared it", name, item[name])
			}
		}
		if b, ok := item["batch_id"].(*types.AttributeValueMemberS); !ok || b.Value != "b9" {
			t.Errorf("batch_id = %v after an update set it to b9", item["batch_id"])
		}
		if c, _ := dynamotest.Num(t, item, "created"); c != created.UnixMicro() {
			t.Errorf("created = %d after Update, want it kept", c)
		}
		if exp2, _ := dynamotest.Num(t, item, "expires_at"); exp2 != exp {
			t.Errorf("expires_at = %d after Update, want it kept (%d)", exp2, exp)
		}
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{
		"dynamodb://",
		"dynamodb://table/path",
		"dynamodb://table?ttl=soon",
		"dynamodb://table?color=red",
		"dynamodb://" + strings.Repeat("t", 250), // the status table fits, TABLE-webhooks does not
	} {
		if s, err := deliveries.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
	if _, err := dynamodeliveries.Open(context.Background(), &url.URL{Scheme: "sqlite", Path: "/x.db"}); err == nil {
		t.Error("Open of a sqlite URL succeeded, want an error")
	}
}

// A write carried out whose reply was lost is retried by the SDK; its
// condition then fails on our own write, which must count as a success, not
// as ErrExists or ErrConflict.
func TestLostRepliesAreOurOwnWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store(t, dynamodeliveries.Options{})
	d := deliveriestest.NewDelivery(t, "img-1", "", time.Now())

	e.Lossy.LoseReply("PutItem", 1)
	rec, err := s.Create(ctx, d)
	if err != nil || rec.Version != 1 {
		t.Fatalf("Create whose reply was lost = %v, %v; want v1", rec, err)
	}
	if n := e.Lossy.Pending("PutItem"); n != 0 {
		t.Fatalf("%d PutItem replies not lost: the test did not test", n)
	}

	upd := proto.Clone(d).(*pb.WebhookDelivery)
	upd.State = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED
	e.Lossy.LoseReply("UpdateItem", 1)
	next, err := s.Update(ctx, &deliveries.Record{Delivery: upd, Version: 1})
	if err != nil || next.Version != 2 {
		t.Fatalf("Update whose reply was lost = %v, %v; want v2", next, err)
	}
	if n := e.Lossy.Pending("UpdateItem"); n != 0 {
		t.Fatalf("%d UpdateItem replies not lost: the test did not test", n)
	}
	got, err := s.Get(ctx, d.Id)
	if err != nil || got.Version != 2 || !proto.Equal(got.Delivery, upd) {
		t.Fatalf("Get = %v, %v; want the update at v2", got, err)
	}
	// Someone else's write is still a conflict, and a taken id still taken.
	if _, err := s.Update(ctx, &deliveries.Record{Delivery: upd, Version: 1}); !errors.Is(err, deliveries.ErrConflict) {
		t.Errorf("stale Update = %v, want ErrConflict", err)
	}
	if _, err := s.Create(ctx, d); !errors.Is(err, deliveries.ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
}

// A selective filter that would take more Query calls than one List may
// make gives short (even empty) pages with tokens that go on where the index
// was read to, and the listing is still complete and in order.
func TestListStopsAfterMaxQueries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store(t, dynamodeliveries.Options{})
	// One Query call per List, of pageSize+1 = 3 index items: the newest
	// three, none of which match, make an empty page.
	dynamodeliveries.SetListBounds(s, 1, 1)
	base := time.Now()
	var want []string // newest first
	for i := range 12 {
		d := deliveriestest.NewDelivery(t, "img-other", "", base.Add(time.Duration(i)*time.Millisecond))
		if i == 0 || i == 5 || i == 6 {
			d.ImageId = "img-1"
			want = append([]string{d.Id}, want...)
		}
		if _, err := s.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	token, pages, short, empty := "", 0, 0, 0
	for {
		page, err := s.List(ctx, deliveries.Filter{ImageID: "img-1"}, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Records) > 2 {
			t.Fatalf("page of %d records, asked for 2", len(page.Records))
		}
		if len(page.Records) < 2 && page.NextPageToken != "" {
			short++
			if len(page.Records) == 0 {
				empty++
			}
		}
		for _, r := range page.Records {
			got = append(got, r.Delivery.GetId())
		}
		if token = page.NextPageToken; token == "" {
			break
		}
		if pages > 20 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("listed\n%v\nwant\n%v", got, want)
	}
	if short == 0 || empty == 0 {
		t.Errorf("%d short pages, %d empty, in %d pages: the bound was not reached", short, empty, pages)
	}
}
