package dynamorecords_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
)

func num(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

// With a TTL, the image and its key item carry expires_at = create time +
// TTL in epoch seconds; without one, neither does.
func TestTTLAttribute(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			ctx := context.Background()
			base := e.store(t, dynamorecords.Options{})
			for _, tc := range []struct {
				name string
				open func() records.Store
				ttl  time.Duration
			}{
				{"New", func() records.Store {
					return e.storeOn(t, base.Table(), dynamorecords.Options{TTL: 720 * time.Hour})
				}, 720 * time.Hour},
				{"URL", func() records.Store {
					s, err := records.Open(ctx, "dynamodb://"+base.Table()+"?ttl=2h")
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { s.Close() })
					return s
				}, 2 * time.Hour},
				{"none", func() records.Store { return base }, 0},
			} {
				s := tc.open()
				img := newImage(t, "b", "key-"+tc.name)
				before := time.Now()
				if _, err := s.Create(ctx, img); err != nil {
					t.Fatal(err)
				}
				after := time.Now()
				for _, pk := range []string{"img#" + img.Id, "key#key-" + tc.name} {
					item := e.item(t, base.Table(), pk)
					if item == nil {
						t.Fatalf("%s: no item %s", tc.name, pk)
					}
					exp, ok := num(item, "expires_at")
					if tc.ttl == 0 {
						if ok {
							t.Errorf("%s: %s has expires_at %d without a TTL", tc.name, pk, exp)
						}
						continue
					}
					lo, hi := before.Add(tc.ttl).Unix(), after.Add(tc.ttl).Unix()+1
					if !ok || exp < lo || exp > hi {
						t.Errorf("%s: %s expires_at = %d (present %v), want in [%d, %d]", tc.name, pk, exp, ok, lo, hi)
					}
					if created, ok := num(item, "created"); !ok || created < before.UnixMilli() || created > after.UnixMilli() {
						t.Errorf("%s: %s created = %d, want unix ms in [%d, %d]", tc.name, pk, created, before.UnixMilli(), after.UnixMilli())
					}
				}
			}
		})
	}
}

// An expired idempotency key, which DynamoDB has not deleted yet, is not
// found and may be taken again.
func TestExpiredKeyIsFree(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			e := newEnv(t, m)
			ctx := context.Background()
			s := e.store(t, dynamorecords.Options{TTL: time.Hour})
			old := newImage(t, "", "reused")
			if _, err := s.Create(ctx, old); err != nil {
				t.Fatal(err)
			}
			key := e.item(t, s.Table(), "key#reused")
			key["expires_at"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}
			e.put(t, s.Table(), key)
			if got, err := s.GetByIdempotencyKey(ctx, "", "reused"); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("GetByIdempotencyKey of an expired key = %v, %v; want ErrNotFound", got, err)
			}
			img := newImage(t, "", "reused")
			if _, err := s.Create(ctx, img); err != nil {
				t.Fatalf("Create with an expired key = %v, want success", err)
			}
			got, err := s.GetByIdempotencyKey(ctx, "", "reused")
			if err != nil || got.Image.GetId() != img.Id {
				t.Fatalf("GetByIdempotencyKey = %v, %v; want the new image %s", got, err, img.Id)
			}
			if _, err := s.Get(ctx, old.Id); err != nil {
				t.Errorf("the old image went with its key: %v", err)
			}
		})
	}
}
