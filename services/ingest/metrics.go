package ingest

import (
	"context"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Upload outcomes, the values of imagepipe_uploads_total's label: a fixed
// list, whatever the error.
const (
	OutcomeOK          = "ok"
	OutcomeTooLarge    = "too_large"
	OutcomeUnsupported = "unsupported"
	OutcomeEmpty       = "empty"
	OutcomeInvalid     = "invalid"
	OutcomeDenied      = "denied"
	OutcomeRateLimited = "rate_limited"
	OutcomeCanceled    = "canceled"
	OutcomeTimeout     = "timeout"
	OutcomeUnavailable = "unavailable"
	OutcomeError       = "error"
)

// Outcomes lists every outcome (their series exist from the start, at 0).
var Outcomes = []string{OutcomeOK, OutcomeTooLarge, OutcomeUnsupported, OutcomeEmpty, OutcomeInvalid, OutcomeDenied,
	OutcomeRateLimited, OutcomeCanceled, OutcomeTimeout, OutcomeUnavailable, OutcomeError}

// UploadMetrics counts the Upload calls of a gRPC server:
// imagepipe_uploads_total{outcome} and imagepipe_upload_bytes_total (the
// bytes of the uploads accepted). It is a stream interceptor, so it sees
// the uploads the fair limits or authentication refuse too.
type UploadMetrics struct {
	uploads *prometheus.CounterVec
	bytes   prometheus.Counter
}

// NewUploadMetrics registers the upload metrics on reg.
func NewUploadMetrics(reg prometheus.Registerer) *UploadMetrics {
	m := &UploadMetrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imagepipe", Name: "uploads_total",
			Help: "Uploads (IngestService.Upload calls) by outcome.",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "imagepipe", Name: "upload_bytes_total",
			Help: "Bytes of the uploads accepted (outcome ok): the originals' sizes.",
		}),
	}
	for _, o := range Outcomes {
		m.uploads.WithLabelValues(o)
	}
	reg.MustRegister(m.uploads, m.bytes)
	return m
}

// StreamInterceptor counts IngestService.Upload calls; other methods pass.
// It goes before the interceptor that makes errors public (apperr), so it
// classifies the code and reason the client gets.
func (m *UploadMetrics) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if info.FullMethod != pb.IngestService_Upload_FullMethodName {
			return h(srv, ss)
		}
		cs := &countingStream{ServerStream: ss}
		err := h(srv, cs)
		outcome := UploadOutcome(err)
		m.uploads.WithLabelValues(outcome).Inc()
		if outcome == OutcomeOK {
			m.bytes.Add(float64(cs.n))
		}
		return err
	}
}

// countingStream counts the bytes of the chunks received.
type countingStream struct {
	grpc.ServerStream
	n int64
}

func (c *countingStream) RecvMsg(msg any) error {
	err := c.ServerStream.RecvMsg(msg)
	if req, ok := msg.(*pb.UploadRequest); ok && err == nil {
		c.n += int64(len(req.GetChunk()))
	}
	return err
}

// UploadOutcome is the outcome of an Upload call that returned err.
func UploadOutcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	if err == context.Canceled {
		return OutcomeCanceled
	}
	st := status.Convert(err)
	reason, _ := apperr.Info(st)
	switch {
	case reason == apperr.ReasonTooLarge:
		return OutcomeTooLarge
	case reason == apperr.ReasonUnsupportedFormat:
		return OutcomeUnsupported
	case reason == apperr.ReasonEmptyBody:
		return OutcomeEmpty
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists, codes.OutOfRange:
		return OutcomeInvalid
	case codes.Unauthenticated, codes.PermissionDenied:
		return OutcomeDenied
	case codes.ResourceExhausted:
		return OutcomeRateLimited
	case codes.Canceled:
		return OutcomeCanceled
	case codes.DeadlineExceeded:
		return OutcomeTimeout
	case codes.Unavailable:
		return OutcomeUnavailable
	}
	return OutcomeError
}
