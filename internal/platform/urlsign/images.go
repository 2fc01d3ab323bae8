package urlsign

import (
	"context"
	"strings"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SignImage gives every variant of a private image a URL signed until exp
// (url_expire_time set); a public image is left as it is. The signature
// covers the variant's path (/a/ID/VARIANT), so it holds behind whatever
// host serves it.
func (s *Signer) SignImage(img *pb.Image, exp time.Time) {
	if !jobs.Private(img) {
		return
	}
	for _, v := range img.GetVariants() {
		s.SignVariant(img.GetId(), v, exp)
	}
}

// SignVariant replaces v's URL with one signed until exp. The URL's base
// (scheme, host and any prefix before /a/) is kept; a query it had (an
// earlier signature) is dropped.
func (s *Signer) SignVariant(id string, v *pb.VariantInfo, exp time.Time) {
	path := jobs.VariantPath(id, v.GetName())
	base, _, _ := strings.Cut(v.GetUrl(), "?")
	base = strings.TrimSuffix(base, path)
	v.Url = s.SignURL(base, path, exp)
	v.UrlExpireTime = timestamppb.New(exp)
}

// SignImages signs the private images anywhere in msg (a response: one
// image, a list, a batch's watch event) until now+ttl.
func (s *Signer) SignImages(msg proto.Message, ttl time.Duration, now time.Time) {
	if msg == nil {
		return
	}
	s.walk(msg.ProtoReflect(), now.Add(ttl))
}

func (s *Signer) walk(m protoreflect.Message, exp time.Time) {
	if img, ok := m.Interface().(*pb.Image); ok {
		s.SignImage(img, exp)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := range v.List().Len() {
				s.walk(v.List().Get(i).Message(), exp)
			}
		default:
			s.walk(v.Message(), exp)
		}
		return true
	})
}

// Interceptors sign the private images in every gRPC response, unary and
// streamed, so each service returns working URLs without doing it itself.
// ttl is how long they work (IMAGEPIPE_SIGNED_URL_TTL).
func (s *Signer) Interceptors(ttl time.Duration) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if m, ok := resp.(proto.Message); ok && err == nil {
			s.SignImages(m, ttl, time.Now())
		}
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &signingStream{ServerStream: ss, s: s, ttl: ttl})
	}
	return unary, stream
}

type signingStream struct {
	grpc.ServerStream
	s   *Signer
	ttl time.Duration
}

func (ss *signingStream) SendMsg(m any) error {
	if msg, ok := m.(proto.Message); ok {
		ss.s.SignImages(msg, ss.ttl, time.Now())
	}
	return ss.ServerStream.SendMsg(m)
}
