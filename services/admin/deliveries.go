package admin

import (
	"context"
	"errors"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/services/webhooks"
)

// errNoWebhooks answers the delivery log's RPCs when webhooks are off (New
// was given no delivery log or events queue).
func errNoWebhooks() error {
	return apperr.FailedPrecondition("webhooks are not configured: there is no delivery log")
}

// ListWebhookDeliveries implements pb.AdminServiceServer.
// The tenant field names whose: the caller's own when empty; the operator
// may name another, or "*" for every tenant's.
func (s *Service) ListWebhookDeliveries(ctx context.Context, req *pb.ListWebhookDeliveriesRequest) (*pb.ListWebhookDeliveriesResponse, error) {
	tenant, n, err := listing(ctx, req.GetTenant(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if s.Deliveries == nil {
		return nil, errNoWebhooks()
	}
	f := deliveries.Filter{State: req.GetState(), ImageID: req.GetImageId(), BatchID: req.GetBatchId(), Tenant: tenant}
	switch {
	case pb.WebhookDeliveryState_name[int32(f.State)] == "":
		return nil, apperr.InvalidField("state", "unknown state %d", f.State)
	case f.ImageID != "" && !jobs.ValidID(f.ImageID):
		return nil, apperr.InvalidField("image_id", "not an image id")
	case f.BatchID != "" && !jobs.ValidBatchID(f.BatchID):
		return nil, apperr.InvalidField("batch_id", "must be 1..64 of [A-Za-z0-9_-]")
	}
	page, err := s.Deliveries.List(ctx, f, n, req.GetPageToken())
	if errors.Is(err, deliveries.ErrInvalidToken) {
		return nil, apperr.InvalidField("page_token", "invalid page token")
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	resp := &pb.ListWebhookDeliveriesResponse{NextPageToken: page.NextPageToken}
	for _, r := range page.Records {
		resp.Deliveries = append(resp.Deliveries, r.Delivery)
	}
	return resp, nil
}

// ReplayWebhookDelivery implements pb.AdminServiceServer. Another tenant's
// delivery is NotFound.
func (s *Service) ReplayWebhookDelivery(ctx context.Context, req *pb.ReplayWebhookDeliveryRequest) (*pb.ReplayWebhookDeliveryResponse, error) {
	p, err := auth.Require(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	id := req.GetId()
	if id == "" {
		return nil, apperr.InvalidField("id", "required")
	}
	if s.Deliveries == nil || s.Events == nil {
		return nil, errNoWebhooks()
	}
	// A delivery's tenant never changes, so checking it before the replay
	// is as good as during.
	cur, err := s.Deliveries.Get(ctx, id)
	if errors.Is(err, deliveries.ErrNotFound) || err == nil && !p.Owns(cur.Delivery.GetTenant()) {
		return nil, apperr.NotFound("webhook delivery", id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	// Not cut in two by the client: the record is PENDING, then queued.
	rec, err := webhooks.Replay(context.WithoutCancel(ctx), s.Events, s.Deliveries, id)
	if errors.Is(err, deliveries.ErrNotFound) {
		return nil, apperr.NotFound("webhook delivery", id)
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	s.Log.InfoContext(ctx, "webhook delivery replayed", "delivery", id, "replays", rec.Delivery.GetReplays(), "by", caller(p))
	return &pb.ReplayWebhookDeliveryResponse{Delivery: rec.Delivery}, nil
}
