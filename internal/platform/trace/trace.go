// Package trace carries a W3C trace context (the traceparent header) from
// the client, through gRPC metadata and queue message attributes, to the
// processor's logs, so one upload can be followed across the targets.
// It propagates and logs the context; exporting spans is left to a tracing
// SDK when one is adopted.
package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Header is the W3C header, gRPC metadata key and queue attribute name.
const Header = "traceparent"

var valid = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// Valid reports whether tp is a version-00 traceparent with non-zero ids.
func Valid(tp string) bool {
	return valid.MatchString(tp) && tp[3:35] != "00000000000000000000000000000000" && tp[36:52] != "0000000000000000"
}

// New starts a new trace: a random trace id and span id, sampled.
func New() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// ID is the trace id part of a traceparent ("" if invalid).
func ID(tp string) string {
	if !Valid(tp) {
		return ""
	}
	return tp[3:35]
}

type key struct{}

// With returns ctx carrying tp.
func With(ctx context.Context, tp string) context.Context { return context.WithValue(ctx, key{}, tp) }

// From returns the traceparent ctx carries, or a new one.
func From(ctx context.Context) string {
	if tp, ok := ctx.Value(key{}).(string); ok && Valid(tp) {
		return tp
	}
	return New()
}

// Outgoing returns ctx with tp in its outgoing gRPC metadata, if valid.
func Outgoing(ctx context.Context, tp string) context.Context {
	if !Valid(tp) {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, Header, tp)
}

func fromIncoming(ctx context.Context) context.Context {
	if vs := metadata.ValueFromIncomingContext(ctx, Header); len(vs) > 0 && Valid(vs[0]) {
		return With(ctx, vs[0])
	}
	return With(ctx, New())
}

// UnaryInterceptor puts the caller's traceparent (or a new one) in ctx.
func UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(fromIncoming(ctx), req)
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stream) Context() context.Context { return s.ctx }

// StreamInterceptor puts the caller's traceparent (or a new one) in ctx.
func StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, stream{ServerStream: ss, ctx: fromIncoming(ss.Context())})
	}
}
