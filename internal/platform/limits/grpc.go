package limits

import (
	"context"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Interceptors enforce the limits on every call but those for which
// exempt(fullMethod) is true (nil: none): a token from the caller's
// tenant's bucket, and for streams for which upload(fullMethod) is true an
// upload slot held until the stream ends. The tenant is the principal's
// (auth.FromContext), so chain them after auth's interceptors; a call
// without a principal has no tenant limits, only the process's cap on
// uploads.
func (l *Limiter) Interceptors(exempt, upload func(fullMethod string) bool) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if exempt == nil || !exempt(info.FullMethod) {
			if err := l.allow(ctx); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if exempt != nil && exempt(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx := ss.Context()
		if err := l.allow(ctx); err != nil {
			return err
		}
		if upload != nil && upload(info.FullMethod) {
			release, err := l.AcquireUpload(tenantOf(ctx))
			if err != nil {
				return err
			}
			defer release()
			// Say so at once, before any message: a client that waits for
			// it (the gateway) reads no body for an upload refused here.
			if err := ss.SendHeader(metadata.Pairs(AdmittedKey, "1")); err != nil {
				return err
			}
		}
		return handler(srv, ss)
	}
	return unary, stream
}

// AdmittedKey is the header metadata key with which an upload stream's
// interceptor announces that the upload was admitted: within its
// tenant's rate and holding an upload slot.
const AdmittedKey = "imagepipe-upload-admitted"

func (l *Limiter) allow(ctx context.Context) error {
	if tenant := tenantOf(ctx); tenant != "" {
		return l.Allow(tenant)
	}
	return nil
}

// tenantOf is the tenant of ctx's principal; empty without one.
func tenantOf(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.Tenant
	}
	return ""
}
