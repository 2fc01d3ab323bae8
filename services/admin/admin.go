// Package admin is the AdminService: operators' tools for the job queue's
// dead-letter queue, FAILED images and the webhook delivery log, and each
// tenant's API keys and webhook signing secret.
//
// The dead-letter queue holds every tenant's jobs, so only the operator (an
// admin of tenant default) may touch it. Every other method needs the admin
// scope and acts on the caller's tenant; the operator may name another. An
// image, delivery or key of another tenant answers as a missing one does
// (NOT_FOUND, or skipped as not_found), never revealing that it exists.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"github.com/imagepipe/imagepipe/internal/stores/dlq"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits of the requests.
const (
	// DefaultPageSize is the page size and dead-letter listing size of a
	// request that gives none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page size and dead-letter listing, and
	// the most image ids one RetryImages request may give.
	MaxPageSize = 1000
)

var _ pb.AdminServiceServer = (*Service)(nil)

// Service implements pb.AdminServiceServer.
type Service struct {
	pb.UnimplementedAdminServiceServer
	Deps
}

// Deps are what the AdminService works with.
type Deps struct {
	// Jobs is the job queue; its dead-letter queue is opened through
	// queue.DeadLetterer for each request.
	Jobs    queue.Queue
	Records records.Store
	// Deliveries is the webhook delivery log and Events the events queue
	// replays go to; with webhooks off both are nil and the delivery log's
	// RPCs answer FailedPrecondition.
	Deliveries deliveries.Store
	Events     queue.Queue
	// Tenants keeps the API keys and tenants' webhook secrets; nil, the
	// key and secret RPCs answer FailedPrecondition.
	Tenants tenants.Store
	Log     *slog.Logger
}

// New returns the AdminService.
func New(d Deps) *Service { return &Service{Deps: d} }

// deadLetterQueue opens the job queue's dead-letter queue; the caller
// closes it.
func (s *Service) deadLetterQueue(ctx context.Context) (queue.Queue, error) {
	d, ok := s.Jobs.(queue.DeadLetterer)
	if !ok {
		return nil, apperr.FailedPrecondition("the job queue has no dead-letter queue")
	}
	q, err := d.DeadLetterQueue(ctx)
	if errors.Is(err, queue.ErrNoDeadLetterQueue) {
		return nil, apperr.FailedPrecondition("the job queue has no dead-letter queue: its redrive is off")
	}
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return q, nil
}

// selectDeadLetters is what redrive and purge check first: the operator,
// a selection of messages (ids or all), and a dead-letter queue to open.
func (s *Service) selectDeadLetters(ctx context.Context, ids []string, all bool) (auth.Principal, queue.Queue, error) {
	p, err := auth.RequireOperator(ctx)
	if err != nil {
		return p, nil, err
	}
	if err := selection(ids, all); err != nil {
		return p, nil, err
	}
	dq, err := s.deadLetterQueue(ctx)
	return p, dq, err
}

// caller names p in the log: its tenant and key id or token subject.
func caller(p auth.Principal) string {
	who := p.KeyID
	if who == "" {
		who = p.Subject
	}
	return p.Tenant + "/" + who
}

// adminOf requires the admin scope and resolves the tenant a request's
// tenant field names: the caller's own when empty (see auth.TenantFor).
func adminOf(ctx context.Context, requested string) (auth.Principal, string, error) {
	p, err := auth.Require(ctx, auth.ScopeAdmin)
	if err != nil {
		return auth.Principal{}, "", err
	}
	tenant, err := auth.TenantFor(p, requested, "tenant")
	if err != nil {
		return auth.Principal{}, "", err
	}
	return p, tenant, nil
}

// listing requires the admin scope and checks a listing's tenant field
// (see tenantOrAll: "" for every tenant's) and page size.
func listing(ctx context.Context, requested string, pageSize int32) (tenant string, n int, err error) {
	p, err := auth.Require(ctx, auth.ScopeAdmin)
	if err != nil {
		return "", 0, err
	}
	if tenant, err = tenantOrAll(p, requested); err != nil {
		return "", 0, err
	}
	if n, err = size("page_size", pageSize); err != nil {
		return "", 0, err
	}
	return tenant, n, nil
}

// tenantOrAll resolves the tenant field of a listing as auth.TenantFor
// does, and "*" (every tenant, returned as "") for the operator only.
func tenantOrAll(p auth.Principal, requested string) (string, error) {
	if requested != "*" {
		return auth.TenantFor(p, requested, "tenant")
	}
	if !p.Operator() {
		return "", &apperr.Error{Code: codes.PermissionDenied, Reason: auth.ReasonPermissionDenied, Field: "tenant",
			Msg: "tenant: only an admin of tenant " + auth.DefaultTenant + " may list every tenant's"}
	}
	return "", nil
}

// size checks a size field of 1..MaxPageSize; 0 means DefaultPageSize.
func size(field string, n int32) (int, error) {
	if n < 0 || n > MaxPageSize {
		return 0, apperr.InvalidField(field, "must be 1..%d (0 means %d)", MaxPageSize, DefaultPageSize)
	}
	if n == 0 {
		return DefaultPageSize, nil
	}
	return int(n), nil
}

// selection checks that a request names messages or sets all, not both.
func selection(ids []string, all bool) error {
	switch {
	case all && len(ids) > 0:
		return apperr.InvalidField("message_ids", "give message_ids or all, not both")
	case !all && len(ids) == 0:
		return apperr.InvalidField("message_ids", "required unless all is set")
	}
	return nil
}

// ListDeadLetters implements pb.AdminServiceServer. Listing leaves the
// messages in the dead-letter queue (each listing counts as a receive).
func (s *Service) ListDeadLetters(ctx context.Context, req *pb.ListDeadLettersRequest) (*pb.ListDeadLettersResponse, error) {
	if _, err := auth.RequireOperator(ctx); err != nil {
		return nil, err
	}
	n, err := size("max_messages", req.GetMaxMessages())
	if err != nil {
		return nil, err
	}
	dq, err := s.deadLetterQueue(ctx)
	if err != nil {
		return nil, err
	}
	defer dq.Close()
	msgs, err := dlq.List(ctx, dq, n)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	resp := &pb.ListDeadLettersResponse{DeadLetters: make([]*pb.DeadLetter, 0, len(msgs))}
	images := map[string]*pb.Image{} // each image read once
	for _, m := range msgs {
		dl := &pb.DeadLetter{MessageId: m.ID, ReceiveCount: int32(m.ReceiveCount), SentTime: timestamppb.New(m.SentAt)}
		resp.DeadLetters = append(resp.DeadLetters, dl)
		job, err := jobs.Decode(m.Body)
		if err != nil {
			dl.Body = strings.ToValidUTF8(string(m.Body), "\uFFFD")
			continue
		}
		dl.ImageId = job.ImageID
		img, seen := images[job.ImageID]
		if !seen {
			rec, err := s.Records.Get(ctx, job.ImageID)
			switch {
			case err == nil:
				img = rec.Image
			case !errors.Is(err, records.ErrNotFound):
				return nil, apperr.Unavailable(err)
			}
			images[job.ImageID] = img
		}
		dl.Image = img
	}
	st, err := dq.Stats(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	resp.ApproximateCount = st.Visible + st.InFlight
	return resp, nil
}

// RedriveDeadLetters implements pb.AdminServiceServer. A job whose image is
// FAILED is not moved (the processor would take it for a duplicate): the
// image is retried (jobs.Retry queues a fresh job) and the dead letter is
// deleted. Any other message is moved back as it is.
func (s *Service) RedriveDeadLetters(ctx context.Context, req *pb.RedriveDeadLettersRequest) (*pb.RedriveDeadLettersResponse, error) {
	p, dq, err := s.selectDeadLetters(ctx, req.GetMessageIds(), req.GetAll())
	if err != nil {
		return nil, err
	}
	defer dq.Close()
	var retried []string
	moved, notFound, err := dlq.Each(context.WithoutCancel(ctx), dq, req.GetMessageIds(), req.GetAll(), func(work context.Context, m queue.Message) (bool, error) {
		// A client that went away stops the redrive between messages,
		// never within one.
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if job, err := jobs.Decode(m.Body); err == nil {
			_, err := jobs.Retry(work, s.Records, s.Jobs, job.ImageID)
			switch {
			case err == nil:
				retried = append(retried, job.ImageID)
				return true, nil
			case !errors.Is(err, jobs.ErrNotFailed) && !errors.Is(err, records.ErrNotFound):
				return false, err
			}
		}
		if err := dlq.Send(work, s.Jobs, m); err != nil {
			return false, err
		}
		return true, nil
	})
	s.Log.InfoContext(ctx, "dead letters redriven", "messages", len(moved), "retried_images", len(retried), "not_found", len(notFound), "err", err, "by", caller(p))
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.RedriveDeadLettersResponse{MessageIds: moved, NotFound: notFound, RetriedImageIds: retried}, nil
}

// PurgeDeadLetters implements pb.AdminServiceServer.
func (s *Service) PurgeDeadLetters(ctx context.Context, req *pb.PurgeDeadLettersRequest) (*pb.PurgeDeadLettersResponse, error) {
	p, dq, err := s.selectDeadLetters(ctx, req.GetMessageIds(), req.GetAll())
	if err != nil {
		return nil, err
	}
	defer dq.Close()
	deleted, notFound, err := dlq.Purge(ctx, dq, req.GetMessageIds(), req.GetAll())
	s.Log.InfoContext(ctx, "dead letters purged", "messages", len(deleted), "not_found", len(notFound), "err", err, "by", caller(p))
	if err != nil {
		return nil, apperr.Unavailable(err)
	}
	return &pb.PurgeDeadLettersResponse{MessageIds: deleted, NotFound: notFound}, nil
}
