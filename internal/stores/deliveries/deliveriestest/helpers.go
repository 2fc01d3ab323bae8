package deliveriestest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	pending   = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING
	delivered = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED
	failed    = pb.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_FAILED
)

// NewID returns a fresh delivery id.
func NewID(t testing.TB) string {
	id, err := uuid.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	return "dlv-" + id.String()
}

// base is the create time of the first delivery a subtest makes; later ones
// are a millisecond apart, so listings have one order.
var base = time.Date(2026, 11, 21, 18, 15, 10, 123456000, time.UTC)

// NewDelivery returns a PENDING delivery with every field set, created at
// created, of tenant acme.
func NewDelivery(t testing.TB, imageID, batchID string, created time.Time) *pb.WebhookDelivery {
	ct := timestamppb.New(created)
	return &pb.WebhookDelivery{
		Id:              NewID(t),
		EventId:         "evt-" + NewID(t),
		EventType:       "image.ready",
		Url:             "https://hooks.example.com/imagepipe",
		ImageId:         imageID,
		BatchId:         batchID,
		Tenant:          "acme",
		State:           pending,
		CreateTime:      ct,
		UpdateTime:      ct,
		NextAttemptTime: timestamppb.New(created.Add(time.Second)),
		Payload:         `{"id":"evt","type":"image.ready"}`,
	}
}

func attempt(status int32, msg string) *pb.WebhookAttempt {
	return &pb.WebhookAttempt{
		Time:       timestamppb.New(base.Add(time.Minute)),
		StatusCode: status,
		Error:      msg,
		Duration:   durationpb.New(150 * time.Millisecond),
	}
}

func clone(d *pb.WebhookDelivery) *pb.WebhookDelivery { return proto.Clone(d).(*pb.WebhookDelivery) }

// listAll follows a listing to its end, checking every page's size.
func listAll(t *testing.T, s deliveries.Store, f deliveries.Filter, pageSize int) (ids []string, pages int) {
	t.Helper()
	token := ""
	for {
		page, err := s.List(t.Context(), f, pageSize, token)
		if err != nil {
			t.Fatalf("List(%+v, %d, %q): %v", f, pageSize, token, err)
		}
		pages++
		if len(page.Records) > pageSize {
			t.Fatalf("page of %d records, asked for %d", len(page.Records), pageSize)
		}
		for _, r := range page.Records {
			ids = append(ids, r.Delivery.GetId())
		}
		if page.NextPageToken == "" {
			return ids, pages
		}
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		token = page.NextPageToken
	}
}
