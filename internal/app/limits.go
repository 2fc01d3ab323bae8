package app

import (
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"google.golang.org/grpc"
)

// limitInterceptors enforce the fair limits (limits.*) on the gRPC
// server: requests per second per tenant on every authenticated call, and
// uploads in flight per process and per tenant on IngestService/Upload.
// Chained after auth's interceptors, which put the tenant in the context;
// the open methods (health, reflection) are exempt.
func (a *App) limitInterceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor, error) {
	l, err := limits.New(a.cfg.Limits)
	if err != nil {
		return nil, nil, err
	}
	a.ready.limiter = l // its uploads in flight are IngestService's readiness
	unary, stream := l.Interceptors(auth.OpenMethods(a.cfg.Reflection), isUpload)
	return unary, stream, nil
}

// isUpload: an Upload stream, or a resumable upload's write (a tus PATCH).
func isUpload(fullMethod string) bool {
	return fullMethod == pb.IngestService_Upload_FullMethodName || fullMethod == pb.IngestService_WriteResumableUpload_FullMethodName
}
