package apperr

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Public turns any error a handler returns into one safe to send: an *Error
// keeps its public face, a status error made by grpc-go keeps its code, a
// context error becomes CANCELED or DEADLINE_EXCEEDED, and anything else is
// logged (with ctx, so with the call's trace) and replaced by a bare
// INTERNAL.
func Public(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := As(err); ok {
		if e.Err != nil || e.Code == codes.Internal || e.Code == codes.Unavailable {
			log.ErrorContext(ctx, "request failed", "method", method, "code", e.Code.String(), "reason", e.Reason, "err", err)
		}
		return e.GRPCStatus().Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.Internal {
		return err
	}
	log.ErrorContext(ctx, "request failed", "method", method, "err", err)
	return Internal(err).GRPCStatus().Err()
}

// UnaryInterceptor applies Public to every unary handler's error.
func UnaryInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, Public(ctx, log, info.FullMethod, err)
	}
}

// StreamInterceptor applies Public to every streaming handler's error.
func StreamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return Public(ss.Context(), log, info.FullMethod, handler(srv, ss))
	}
}
