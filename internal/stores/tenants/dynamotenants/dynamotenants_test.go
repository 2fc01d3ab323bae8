package dynamotenants_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/dynamotenants"
	"github.com/imagepipe/imagepipe/internal/stores/tenants/tenantstest"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/dynamotest"
)

// env is the AWS configuration of one test (see dynamotest.Env), which
// makes the stores.
type env struct{ *dynamotest.Env }

func newEnv(t *testing.T) env { return env{dynamotest.NewEnv(t)} }

// store returns a store on a new table, made by EnsureTable and deleted when
// the test ends.
func (e env) store(t *testing.T) *dynamotenants.Store {
	t.Helper()
	s := e.storeOn(t, awstest.Name("tenants"))
	e.ensure(t, s)
	return s
}

// ensure runs EnsureTable and deletes the table when the test ends.
func (e env) ensure(t *testing.T, s *dynamotenants.Store) {
	t.Helper()
	dynamotest.EnsureTable(t, e.DB, s.Table(), s.EnsureTable)
}

// storeOn returns a store on an existing (or missing) table.
func (e env) storeOn(t *testing.T, table string) *dynamotenants.Store {
	t.Helper()
	s, err := dynamotenants.New(context.Background(), e.Cfg, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The conformance suite, each subtest on a fresh table.
func TestConformance(t *testing.T) {
	e := newEnv(t)
	tenantstest.Run(t, func(t *testing.T) tenants.Store { return e.store(t) })
}

func TestEnsureTableIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := e.store(t) // creates the table
	k := tenantstest.NewKey(t, "acme")
	if err := a.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	b := e.storeOn(t, a.Table())
	for i, s := range []*dynamotenants.Store{a, b, a} {
		if err := s.EnsureTable(ctx); err != nil {
			t.Fatalf("EnsureTable #%d on an existing table: %v", i+2, err)
		}
	}
	if got, err := b.GetKey(ctx, k.ID); err != nil || got.Tenant != "acme" {
		t.Fatalf("after EnsureTable again: %v, %v; want the key kept", got, err)
	}
	page, err := b.ListKeys(ctx, "acme", 10, "")
	if err != nil || len(page.Keys) != 1 {
		t.Fatalf("ListKeys after EnsureTable again: %d keys, %v; want 1", len(page.Keys), err)
	}
}

// EnsureTable refuses a table of the same name and another layout.
func TestEnsureTableChecksLayout(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := dynamotest.PlainTable(t, e.DB, "tenants")
	err := e.storeOn(t, table).EnsureTable(ctx)
	if err == nil || !strings.Contains(err.Error(), dynamotenants.IndexByTenant) {
		t.Fatalf("EnsureTable on a table without the index = %v, want an error naming %s", err, dynamotenants.IndexByTenant)
	}
}

func TestMissingTable(t *testing.T) {
	e := newEnv(t)
	s := e.storeOn(t, awstest.Name("missing"))
	ctx := context.Background()
	k := tenantstest.NewKey(t, "acme")
	now := time.Now()
	for name, err := range map[string]error{
		"CreateKey": s.CreateKey(ctx, k),
		"PutKey":    s.PutKey(ctx, k),
		"GetKey":    second(s.GetKey(ctx, k.ID)),
		"RevokeKey": second(s.RevokeKey(ctx, k.ID, now)),
		"TouchKey":  s.TouchKey(ctx, k.ID, now),
		"ListKeys":  second(s.ListKeys(ctx, "acme", 10, "")),
		"ListAll":   second(s.ListKeys(ctx, "", 10, "")),
		"GetTenant": second(s.GetTenant(ctx, "acme")),
		"PutTenant": second(s.PutTenant(ctx, tenants.Tenant{Name: "acme"})),
	} {
		if !errors.Is(err, dynamotenants.ErrNoTable) || errors.Is(err, tenants.ErrNotFound) {
			t.Errorf("%s = %v, want ErrNoTable (and not ErrNotFound)", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func str(item map[string]types.AttributeValue, name string) (string, bool) {
	v, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

// Opened with the status store's URL, the store is the table
// STATUS-tenants, and its items have the documented attributes.
func TestOpenByStatusURLAndItemLayout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	status := awstest.Name("status")
	e.ensure(t, e.storeOn(t, dynamotenants.TableName(status)))
	table := status + "-tenants"
	s, err := tenants.Open(ctx, "dynamodb://"+status+"?ttl=2h") // the TTL is not the store's
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	created := time.Date(2026, 1, 2, 3, 4, 5, 678912345, time.UTC)
	k := tenantstest.NewKey(t, "acme")
	k.CreateTime = created
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	item := dynamotest.Item(t, e.DB, table, "key#"+k.ID)
	if item == nil {
		t.Fatalf("no item key#%s in table %s", k.ID, table)
	}
	for name, want := range map[string]string{"key_id": k.ID, "tenant": "acme", "name": k.Name} {
		if v, _ := str(item, name); v != want {
			t.Errorf("%s = %v, want %q", name, item[name], want)
		}
	}
	if c, _ := dynamotest.Num(t, item, "created"); c != created.UnixMicro() {
		t.Errorf("created = %d, want unix microseconds %d", c, created.UnixMicro())
	}
	if h, ok := item["hash"].(*types.AttributeValueMemberB); !ok || !bytes.Equal(h.Value, k.Hash) {
		t.Errorf("hash = %v, want the bytes %x", item["hash"], k.Hash)
	}
	if l, ok := item["scopes"].(*types.AttributeValueMemberL); !ok || len(l.Value) != 2 {
		t.Errorf("scopes = %v, want a list of 2", item["scopes"])
	}
	if tok, _ := str(item, "wtoken"); len(tok) < 16 {
		t.Errorf("wtoken = %v, want a random token", item["wtoken"])
	}
	for _, name := range []string{"last_use", "revoked", "expires_at", "version"} {
		if v, ok := item[name]; ok {
			t.Errorf("%s = %v on a new key", name, v)
		}
	}
	used := created.Add(time.Hour)
	if err := s.TouchKey(ctx, k.ID, used); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, k.ID, used.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	item = dynamotest.Item(t, e.DB, table, "key#"+k.ID)
	if u, _ := dynamotest.Num(t, item, "last_use"); u != used.UnixMicro() {
		t.Errorf("last_use = %d, want %d", u, used.UnixMicro())
	}
	if r, _ := dynamotest.Num(t, item, "revoked"); r != used.Add(time.Minute).UnixMicro() {
		t.Errorf("revoked = %d, want %d", r, used.Add(time.Minute).UnixMicro())
	}

	if _, err := s.PutTenant(ctx, tenants.Tenant{Name: "acme", WebhookSecrets: []string{"new", "old"}, UpdateTime: created}); err != nil {
		t.Fatal(err)
	}
	item = dynamotest.Item(t, e.DB, table, "tenant#acme")
	if item == nil {
		t.Fatalf("no item tenant#acme in table %s", table)
	}
	if v, _ := dynamotest.Num(t, item, "version"); v != 1 {
		t.Errorf("version = %d, want 1", v)
	}
	if u, _ := dynamotest.Num(t, item, "updated"); u != created.UnixMicro() {
		t.Errorf("updated = %d, want %d", u, created.UnixMicro())
	}
	if n, _ := str(item, "name"); n != "acme" {
		t.Errorf("name = %v, want acme", item["name"])
	}
	if _, ok := item["tenant"]; ok {
		t.Errorf("tenant = %v on a tenant item: it would be listed as a key", item["tenant"])
	}
	if l, ok := item["secrets"].(*types.AttributeValueMemberL); !ok || len(l.Value) != 2 {
		t.Errorf("secrets = %v, want a list of 2", item["secrets"])
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{
		"dynamodb://",
		"dynamodb://table/path",
		"dynamodb://table?ttl=soon",
		"dynamodb://table?color=red",
		"dynamodb://" + strings.Repeat("t", 250), // the status table fits, TABLE-tenants does not
	} {
		if s, err := tenants.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
	if _, err := dynamotenants.Open(context.Background(), &url.URL{Scheme: "sqlite", Path: "/x.db"}); err == nil {
		t.Error("Open of a sqlite URL succeeded, want an error")
	}
}

// A write carried out whose reply was lost is retried by the SDK; its
// condition then fails on our own write, which must count as a success, not
// as ErrExists or ErrConflict.
func TestLostRepliesAreOurOwnWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.store(t)
	lose := func(op string, write func() error) {
		t.Helper()
		e.Lossy.LoseReply(op, 1)
		if err := write(); err != nil {
			t.Fatalf("%s whose reply was lost: %v", op, err)
		}
		if n := e.Lossy.Pending(op); n != 0 {
			t.Fatalf("%d %s replies not lost: the test did not test", n, op)
		}
	}
	k := tenantstest.NewKey(t, "acme")
	lose("PutItem", func() error { return s.CreateKey(ctx, k) })
	used := time.Now()
	lose("UpdateItem", func() error { return s.TouchKey(ctx, k.ID, used) })
	lose("UpdateItem", func() error {
		got, err := s.RevokeKey(ctx, k.ID, used)
		if err == nil && !got.RevokeTime.Equal(used.Truncate(time.Microsecond)) {
			err = errors.New("revoke time " + got.RevokeTime.String())
		}
		return err
	})
	var v tenants.Tenant
	lose("PutItem", func() (err error) {
		v, err = s.PutTenant(ctx, tenants.Tenant{Name: "acme", WebhookSecrets: []string{"s1"}})
		return err
	})
	v.WebhookSecrets = []string{"s2", "s1"}
	lose("PutItem", func() (err error) {
		v, err = s.PutTenant(ctx, v)
		return err
	})
	if got, err := s.GetTenant(ctx, "acme"); err != nil || got.Version != 2 || len(got.WebhookSecrets) != 2 {
		t.Fatalf("GetTenant = %+v, %v; want the update at v2", got, err)
	}
	// Someone else's write is still a conflict, and a taken id still taken.
	stale := v
	stale.Version = 1
	if _, err := s.PutTenant(ctx, stale); !errors.Is(err, tenants.ErrConflict) {
		t.Errorf("stale PutTenant = %v, want ErrConflict", err)
	}
	if err := s.CreateKey(ctx, k); !errors.Is(err, tenants.ErrExists) {
		t.Errorf("second CreateKey = %v, want ErrExists", err)
	}
}
