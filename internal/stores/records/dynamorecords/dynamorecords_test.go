package dynamorecords_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
	"github.com/imagepipe/imagepipe/internal/testkit/dynamotest"
	"google.golang.org/protobuf/proto"
)

var modes = []mode{sequence, transaction}

// The conformance suite, once per Create path.
func TestConformance(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			// Keyed creates tried TransactWriteItems: every time in
			// transaction mode, once per store in sequence mode. Checked
			// in a cleanup, which runs once the parallel subtests are done.
			t.Cleanup(func() {
				if n := e.emu.txCalls.Load(); n == 0 {
					t.Error("no TransactWriteItems call: the transaction path was not tried")
				}
			})
			recordstest.Run(t, func(t *testing.T) records.Store {
				return e.store(t, dynamorecords.Options{})
			})
		})
	}
}

func newImage(t *testing.T, batch, key string) *pb.Image {
	return &pb.Image{
		Id:             recordstest.NewID(t),
		BatchId:        batch,
		IdempotencyKey: key,
		State:          pb.ImageState_IMAGE_STATE_RECEIVED,
		Preset:         "default",
	}
}

// On an endpoint without transactions the store tries TransactWriteItems
// once and then remembers that the endpoint lacks it.
func TestTransactionsProbedOnce(t *testing.T) {
	e := newEnv(t, sequence)
	s := e.store(t, dynamorecords.Options{})
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.Create(ctx, newImage(t, "", "k"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.emu.txCalls.Load(); n != 1 {
		t.Errorf("%d TransactWriteItems calls for 3 keyed creates, want 1", n)
	}
}

func TestEnsureTableIdempotent(t *testing.T) {
	e := newEnv(t, sequence)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := e.store(t, dynamorecords.Options{}) // creates the table
	img := newImage(t, "b", "key")
	if _, err := a.Create(ctx, img); err != nil {
		t.Fatal(err)
	}
	b := e.storeOn(t, a.Table(), dynamorecords.Options{TTL: time.Hour})
	for i, s := range []*dynamorecords.Store{a, b, a} {
		if err := s.EnsureTable(ctx); err != nil {
			t.Fatalf("EnsureTable #%d on an existing table: %v", i+2, err)
		}
	}
	got, err := b.Get(ctx, img.Id)
	if err != nil || !proto.Equal(got.Image, img) {
		t.Fatalf("after EnsureTable again: %v, %v; want the record kept", got, err)
	}
	page, err := b.ListByBatch(ctx, "", "b", 10, "")
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("ListByBatch after EnsureTable again: %d records, %v; want 1", len(page.Records), err)
	}
}

// EnsureTable refuses a table of the same name and another layout.
func TestEnsureTableChecksLayout(t *testing.T) {
	e := newEnv(t, sequence)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := dynamotest.PlainTable(t, e.db, "records")
	err := e.storeOn(t, table, dynamorecords.Options{}).EnsureTable(ctx)
	if err == nil || !strings.Contains(err.Error(), "by_batch") {
		t.Fatalf("EnsureTable on a table without the index = %v, want an error naming by_batch", err)
	}
}

func TestMissingTable(t *testing.T) {
	e := newEnv(t, sequence)
	s := e.storeOn(t, awstest.Name("missing"), dynamorecords.Options{})
	ctx := context.Background()
	if _, err := s.Get(ctx, recordstest.NewID(t)); !errors.Is(err, dynamorecords.ErrNoTable) || errors.Is(err, records.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNoTable (and not ErrNotFound)", err)
	}
	if _, err := s.Create(ctx, newImage(t, "b", "")); !errors.Is(err, dynamorecords.ErrNoTable) {
		t.Errorf("Create = %v, want ErrNoTable", err)
	}
	if _, err := s.ListByBatch(ctx, "", "b", 10, ""); !errors.Is(err, dynamorecords.ErrNoTable) {
		t.Errorf("ListByBatch = %v, want ErrNoTable", err)
	}
}

// Two stores on one table behave like two processes: each sees, and
// respects, the other's conditional writes.
func TestTwoStoresShareOneTable(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			ctx := context.Background()
			a := e.store(t, dynamorecords.Options{})
			bs, err := records.Open(ctx, "dynamodb://"+a.Table())
			if err != nil {
				t.Fatal(err)
			}
			defer bs.Close()
			b := e.storeOn(t, a.Table(), dynamorecords.Options{})

			img := newImage(t, "", "upload-1")
			created, err := a.Create(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := b.GetByIdempotencyKey(ctx, "", "upload-1"); err != nil || got.Image.GetId() != img.Id {
				t.Fatalf("the other store's GetByIdempotencyKey = %v, %v; want %s", got, err, img.Id)
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
			got, err := bs.Get(ctx, img.Id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Image.GetState() != pb.ImageState_IMAGE_STATE_QUEUED || got.Version != 2 {
				t.Fatalf("store opened by URL sees %v v%d, want QUEUED v2", got.Image.GetState(), got.Version)
			}
			if _, err := b.Create(ctx, newImage(t, "", "upload-1")); !errors.Is(err, records.ErrExists) {
				t.Fatalf("Create with a key the other store took = %v, want ErrExists", err)
			}
			byKey, err := b.GetByIdempotencyKey(ctx, "", "upload-1")
			if err != nil || byKey.Image.GetId() != img.Id {
				t.Fatalf("GetByIdempotencyKey through the other store = %v, %v; want %s", byKey, err, img.Id)
			}
		})
	}
}

// Racing creates of one idempotency key from two stores: exactly one wins,
// and the key leads to the winner.
func TestConcurrentCreatesOfOneKey(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			ctx := context.Background()
			a := e.store(t, dynamorecords.Options{})
			b := e.storeOn(t, a.Table(), dynamorecords.Options{})
			const n = 8
			var wg sync.WaitGroup
			winners := make(chan string, n)
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					s := []*dynamorecords.Store{a, b}[i%2]
					img := newImage(t, "batch", "same-key")
					_, err := s.Create(ctx, img)
					switch {
					case err == nil:
						winners <- img.Id
					case !errors.Is(err, records.ErrExists):
						errs <- err
					}
				})
			}
			wg.Wait()
			close(winners)
			close(errs)
			for err := range errs {
				t.Fatalf("Create = %v, want success or ErrExists", err)
			}
			var ids []string
			for id := range winners {
				ids = append(ids, id)
			}
			if len(ids) != 1 {
				t.Fatalf("%d creates of one key succeeded (%v), want 1", len(ids), ids)
			}
			got, err := a.GetByIdempotencyKey(ctx, "", "same-key")
			if err != nil || got.Image.GetId() != ids[0] {
				t.Fatalf("GetByIdempotencyKey = %v, %v; want the winner %s", got, err, ids[0])
			}
			// The losers left nothing behind: only the winner is listed.
			// (The emulators' indexes are consistent; DynamoDB's would lag.)
			page, err := a.ListByBatch(ctx, "", "batch", 100, "")
			if err != nil || len(page.Records) != 1 {
				t.Fatalf("batch lists %d records (err %v), want only the winner", len(page.Records), err)
			}
		})
	}
}

// A page token of one batch is no token for another.
func TestPageTokenOfAnotherBatch(t *testing.T) {
	e := newEnv(t, sequence)
	s := e.store(t, dynamorecords.Options{})
	ctx := context.Background()
	for range 3 {
		if _, err := s.Create(ctx, newImage(t, "a", "")); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.ListByBatch(ctx, "", "a", 2, "")
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("first page: %d records, token %q, %v; want 2 and a token", len(page.Records), page.NextPageToken, err)
	}
	if _, err := s.ListByBatch(ctx, "", "b", 2, page.NextPageToken); !errors.Is(err, records.ErrInvalidToken) {
		t.Errorf("token of batch a used for batch b: %v, want ErrInvalidToken", err)
	}
	last, err := s.ListByBatch(ctx, "", "a", 2, page.NextPageToken)
	if err != nil || len(last.Records) != 1 || last.NextPageToken != "" {
		t.Errorf("second page: %d records, token %q, %v; want 1 and no token", len(last.Records), last.NextPageToken, err)
	}
}

// A write carried out whose reply was lost is retried by the SDK; its
// condition then fails on our own write, which must count as a success, not
// as ErrExists or ErrConflict (Mutate would apply its change twice).
func TestLostRepliesAreOurOwnWrites(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			ctx := context.Background()
			s := e.store(t, dynamorecords.Options{})
			consumed := func(what string) {
				t.Helper()
				for _, op := range []string{"PutItem", "UpdateItem"} {
					if n := e.emu.lossy.Pending(op); n != 0 {
						t.Fatalf("%s: %d replies to %s not lost: the test did not test", what, n, op)
					}
				}
			}

			img := newImage(t, "", "")
			e.emu.lossy.LoseReply("PutItem", 1)
			if _, err := s.Create(ctx, img); err != nil {
				t.Fatalf("Create whose reply was lost = %v, want success", err)
			}
			consumed("Create")

			if m == sequence { // the keyed Create's own writes (claim, image, commit)
				e.emu.lossy.LoseReply("PutItem", 2)
				e.emu.lossy.LoseReply("UpdateItem", 1)
			}
			keyed := newImage(t, "", "lost-key")
			if _, err := s.Create(ctx, keyed); err != nil {
				t.Fatalf("keyed Create whose replies were lost = %v, want success", err)
			}
			consumed("keyed Create")
			if got, err := s.GetByIdempotencyKey(ctx, "", "lost-key"); err != nil || got.Image.GetId() != keyed.Id {
				t.Fatalf("GetByIdempotencyKey = %v, %v; want %s", got, err, keyed.Id)
			}

			e.emu.lossy.LoseReply("UpdateItem", 1)
			calls := 0
			rec, err := records.Mutate(ctx, s, img.Id, func(im *pb.Image) error {
				calls++
				im.Attempts++
				return nil
			})
			if err != nil {
				t.Fatalf("Mutate whose reply was lost = %v, want success", err)
			}
			if calls != 1 || rec.Version != 2 {
				t.Fatalf("Mutate whose reply was lost = v%d after %d calls; want v2 after 1", rec.Version, calls)
			}
			consumed("Update")
			got, err := s.Get(ctx, img.Id)
			if err != nil || got.Image.GetAttempts() != 1 || got.Version != 2 {
				t.Fatalf("Get = %v, %v; want attempts 1 at v2", got, err)
			}
		})
	}
}
