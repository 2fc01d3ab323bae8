package dynamorecords_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/dynamorecords"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"google.golang.org/protobuf/proto"
)

// claim is a key item as a Create without transactions leaves it when its
// process dies before committing: uncommitted, with the dead writer's token.
func claim(key, imageID string, created time.Time, committed bool) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk":        &types.AttributeValueMemberS{Value: "key#" + key},
		"image_id":  &types.AttributeValueMemberS{Value: imageID},
		"committed": &types.AttributeValueMemberBOOL{Value: committed},
		"created":   &types.AttributeValueMemberN{Value: strconv.FormatInt(created.UnixMilli(), 10)},
		"wtoken":    &types.AttributeValueMemberS{Value: "dead-writer"},
	}
}

// rawImage is an image item as that Create writes it before committing.
func rawImage(t *testing.T, img *pb.Image) map[string]types.AttributeValue {
	data, err := proto.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]types.AttributeValue{
		"pk":      &types.AttributeValueMemberS{Value: "img#" + img.Id},
		"version": &types.AttributeValueMemberN{Value: "1"},
		"state":   &types.AttributeValueMemberN{Value: strconv.Itoa(int(img.State))},
		"record":  &types.AttributeValueMemberB{Value: data},
		"wtoken":  &types.AttributeValueMemberS{Value: "dead-writer"},
	}
}

// What a writer that died between the steps of a Create without
// transactions leaves behind, and how readers and the next Create of the
// key deal with it.
func TestAbandonedKeyClaims(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// setup writes the leftovers for key "k" and returns the id the key
		// should lead to afterwards ("" = the new image's).
		setup     func(t *testing.T, e *env, table string) string
		wantErr   error
		minWait   time.Duration // the Create waits for a claim in flight
		wantToken string        // the claim's token after the Create ("" = not checked)
	}{
		{
			name: "died after claiming: taken over once stale",
			setup: func(t *testing.T, e *env, table string) string {
				e.put(t, table, claim("k", recordstest.NewID(t), time.Now().Add(-time.Hour), false))
				return ""
			},
		},
		{
			name: "died after writing the image: rolled forward",
			setup: func(t *testing.T, e *env, table string) string {
				img := newImage(t, "", "k")
				e.put(t, table, rawImage(t, img))
				e.put(t, table, claim("k", img.Id, time.Now(), false))
				return img.Id
			},
			wantErr: records.ErrExists,
		},
		{
			name: "claim in flight: not taken over",
			setup: func(t *testing.T, e *env, table string) string {
				e.put(t, table, claim("k", recordstest.NewID(t), time.Now(), false))
				return "none"
			},
			wantErr:   records.ErrExists,
			minWait:   time.Second,
			wantToken: "dead-writer",
		},
		{
			name: "stale claim on an image of another key: taken over",
			setup: func(t *testing.T, e *env, table string) string {
				img := newImage(t, "", "other")
				e.put(t, table, rawImage(t, img))
				e.put(t, table, claim("k", img.Id, time.Now().Add(-time.Hour), false))
				return ""
			},
		},
		{
			name: "committed key of a missing image: kept, not found",
			setup: func(t *testing.T, e *env, table string) string {
				e.put(t, table, claim("k", recordstest.NewID(t), time.Now().Add(-time.Hour), true))
				return "none"
			},
			wantErr:   records.ErrExists,
			wantToken: "dead-writer",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sequence)
			s := e.store(t, dynamorecords.Options{})
			want := tc.setup(t, e, s.Table())
			// Uncommitted keys, and keys of missing images, are never returned.
			if got, err := s.GetByIdempotencyKey(ctx, "", "k"); !errors.Is(err, records.ErrNotFound) {
				t.Fatalf("before: GetByIdempotencyKey = %v, %v; want ErrNotFound", got, err)
			}
			img := newImage(t, "", "k")
			start := time.Now()
			_, createErr := s.Create(ctx, img)
			if !errors.Is(createErr, tc.wantErr) || (tc.wantErr == nil && createErr != nil) {
				t.Fatalf("Create = %v, want %v", createErr, tc.wantErr)
			}
			if waited := time.Since(start); waited < tc.minWait {
				t.Errorf("Create answered after %v, want a wait of at least %v for the claim in flight", waited, tc.minWait)
			}
			if want == "" {
				want = img.Id
			}
			got, err := s.GetByIdempotencyKey(ctx, "", "k")
			switch {
			case want == "none":
				if !errors.Is(err, records.ErrNotFound) {
					t.Errorf("after: GetByIdempotencyKey = %v, %v; want ErrNotFound", got, err)
				}
			case err != nil || got.Image.GetId() != want:
				t.Errorf("after: GetByIdempotencyKey = %v, %v; want image %s", got, err, want)
			}
			if tc.wantToken != "" {
				if tok := e.item(t, s.Table(), "key#k")["wtoken"]; tok.(*types.AttributeValueMemberS).Value != tc.wantToken {
					t.Errorf("the claim was overwritten: token %v", tok)
				}
			}
			if createErr != nil && e.item(t, s.Table(), "img#"+img.Id) != nil {
				t.Error("a failed Create left its image behind")
			}
		})
	}
}
