package sqliterecords_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/sqlitedb"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"google.golang.org/protobuf/proto"
)

func TestConformance(t *testing.T) {
	recordstest.Run(t, func(t *testing.T) records.Store {
		s, err := sqliterecords.New(filepath.Join(t.TempDir(), "status.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Two stores on one file behave like two processes: a conditional update
// made through one is seen, and respected, by the other.
func TestTwoProcessesShareOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	a, err := records.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqliterecords.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	img := &pb.Image{Id: recordstest.NewID(t), State: pb.ImageState_IMAGE_STATE_RECEIVED}
	created, err := a.Create(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := records.Mutate(ctx, b, img.Id, func(im *pb.Image) error {
		im.State = pb.ImageState_IMAGE_STATE_QUEUED
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stale := proto.Clone(created.Image).(*pb.Image)
	stale.State = pb.ImageState_IMAGE_STATE_FAILED
	if _, err := a.Update(ctx, &records.Record{Image: stale, Version: created.Version}); !errors.Is(err, records.ErrConflict) {
		t.Fatalf("stale update through the other store = %v, want ErrConflict", err)
	}
	got, err := a.Get(ctx, img.Id)
	if err != nil || got.Image.GetState() != pb.ImageState_IMAGE_STATE_QUEUED {
		t.Fatalf("a sees %v (err %v), want QUEUED written through b", got.Image.GetState(), err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"sqlite://", "sqlite:///", "mysql://x/y", "::"} {
		if s, err := records.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}

// A file made before batch counters gets them when it is opened: each
// batch counted once from its images, whose later writes then count on.
func TestMigratesFileWithoutCounters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	db, err := sqlitedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE images (id TEXT PRIMARY KEY, batch_id TEXT, idempotency_key TEXT UNIQUE,
		version INTEGER NOT NULL, state INTEGER NOT NULL, record BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, st := range []pb.ImageState{pb.ImageState_IMAGE_STATE_READY, pb.ImageState_IMAGE_STATE_QUEUED} {
		img := &pb.Image{Id: recordstest.NewID(t), BatchId: "old", State: st, BatchSize: 2}
		data, err := proto.Marshal(img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO images VALUES (?, 'old', NULL, ?, ?, ?)`, img.Id, i+1, int32(st), data); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, img.Id)
	}
	db.Close()

	s, err := sqliterecords.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.GetBatch(ctx, "", "old")
	if err != nil || c.Total != 2 || c.Counts[pb.ImageState_IMAGE_STATE_READY] != 1 || c.Expected != 2 || c.Seq != 2 {
		t.Fatalf("migrated counter %+v, %v; want 2 images, 1 READY, expected 2, seq 2", c, err)
	}
	if _, err := records.Mutate(ctx, s, ids[1], func(im *pb.Image) error { im.State = pb.ImageState_IMAGE_STATE_READY; return nil }); err != nil {
		t.Fatal(err)
	}
	c, err = s.GetBatch(ctx, "", "old")
	if err != nil || c.Counts[pb.ImageState_IMAGE_STATE_READY] != 2 || !c.Complete() || c.Seq != 3 {
		t.Fatalf("after a write: %+v, %v; want 2 READY, complete, seq 3", c, err)
	}
	if recs, err := s.BatchChanges(ctx, "", "old", 2, 3); err != nil || len(recs) != 1 || recs[0].Image.GetId() != ids[1] {
		t.Errorf("BatchChanges after the migration = %v, %v; want the image written", recs, err)
	}
	again, err := sqliterecords.New(path) // a second open migrates nothing
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if c, err := s.GetBatch(ctx, "", "old"); err != nil || c.Seq != 3 || c.Total != 2 {
		t.Errorf("after opening again: %+v, %v", c, err)
	}
}

// A file made before tenant listings gets images.tenant, filled from the
// records, and its index when it is opened: the images written before are
// listed, each under its tenant.
func TestMigratesFileWithoutTenants(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "status.db")
	db, err := sqlitedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE images (id TEXT PRIMARY KEY, batch_id TEXT, idempotency_key TEXT UNIQUE,
		version INTEGER NOT NULL, state INTEGER NOT NULL, record BLOB NOT NULL, bseq INTEGER);
		CREATE TABLE batches (batch_id TEXT PRIMARY KEY, counter TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // tenant -> ids, oldest first
	for i := range 1203 {         // more than one chunk of the migration
		tenant := []string{"", "acme", "globex"}[i%3]
		img := &pb.Image{Id: recordstest.NewID(t), Tenant: tenant, State: pb.ImageState_IMAGE_STATE_READY}
		data, err := proto.Marshal(img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO images VALUES (?, NULL, NULL, 1, ?, ?, NULL)`, img.Id, int32(img.State), data); err != nil {
			t.Fatal(err)
		}
		want[records.Tenant(img)] = append(want[records.Tenant(img)], img.Id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := sqliterecords.New(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for tenant, ids := range want {
		q := records.ListQuery{Tenant: tenant, State: pb.ImageState_IMAGE_STATE_READY, PageSize: records.MaxPageSize}
		page, err := s.ListImages(ctx, q)
		if err != nil || len(page.Records) != len(ids) || page.NextPageToken != "" {
			t.Fatalf("tenant %s after the migration: %d images, token %q, %v; want %d", tenant, len(page.Records), page.NextPageToken, err, len(ids))
		}
		if got, newest := page.Records[0].Image.GetId(), ids[len(ids)-1]; got != newest {
			t.Errorf("tenant %s: first listed %s, want the newest %s", tenant, got, newest)
		}
	}
	if plan := queryPlan(t, path, `SELECT id FROM images WHERE tenant = 'acme' AND id < 'z' ORDER BY id DESC LIMIT 10`); !strings.Contains(plan, "images_by_tenant") {
		t.Errorf("a tenant's listing does not use images_by_tenant: %s", plan)
	}
}

// queryPlan is SQLite's plan of query on the file at path.
func queryPlan(t *testing.T, path, query string) string {
	t.Helper()
	db, err := sqlitedb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN QUERY PLAN " + query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}
