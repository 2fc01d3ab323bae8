package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"path"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeServer is a real gRPC server on loopback whose services are fakes:
// it records every call (method, authorization metadata, request) and
// answers with what the test set. It checks what the command line sends
// and how it shows answers; tests against a whole server are in
// server_test.go.
type fakeServer struct {
	addr string

	mu      sync.Mutex
	calls   []fakeCall
	answers map[string]func(req proto.Message) (proto.Message, error)
	// requireToken, when set, makes every call but the health check
	// without "authorization: Bearer <requireToken>" UNAUTHENTICATED.
	requireToken string
}

// fakeCall is one call the server received.
type fakeCall struct {
	method string
	auth   []string // values of the authorization metadata
	// req is the request of a unary call, the metadata of an upload, the
	// request of another stream.
	req proto.Message
}

// The ids the fake's default answers use.
const (
	fakeImageID = "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c577"
	fakeKeyID   = "k7Qx2"
	fakeSecret  = "ipk_k7Qx2_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
)

// fakeTime is the time in the fake's answers.
var fakeTime = timestamppb.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))

// startFake serves the fake until the test ends and points the client
// commands at it through IMAGEPIPE_ADDR, with no token in the environment.
func startFake(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{answers: defaultAnswers()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.unary), grpc.StreamInterceptor(f.stream))
	pb.RegisterAdminServiceServer(srv, fakeAdmin{f: f})
	pb.RegisterStatusServiceServer(srv, fakeStatus{f: f})
	pb.RegisterProcessorServiceServer(srv, fakeProcessor{f: f})
	pb.RegisterIngestServiceServer(srv, fakeIngest{f: f})
	healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	f.addr = lis.Addr().String()
	t.Setenv("IMAGEPIPE_ADDR", f.addr)
	t.Setenv("IMAGEPIPE_TOKEN", "")
	t.Setenv("IMAGEPIPE_TOKEN_FILE", "")
	return f
}

// on sets the answer to method.
func (f *fakeServer) on(method string, answer func(req proto.Message) (proto.Message, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method] = answer
}

// received returns the calls so far and forgets them.
func (f *fakeServer) received() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := f.calls
	f.calls = nil
	return calls
}

// requests returns the requests of the calls to method so far.
func (f *fakeServer) requests(method string) []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var reqs []proto.Message
	for _, c := range f.calls {
		if c.method == method {
			reqs = append(reqs, c.req)
		}
	}
	return reqs
}

// record notes a call and checks its token.
func (f *fakeServer) record(ctx context.Context, fullMethod string, req proto.Message) error {
	md, _ := metadata.FromIncomingContext(ctx)
	method := path.Base(fullMethod)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{method: method, auth: md.Get("authorization"), req: req})
	auth := md.Get("authorization")
	if f.requireToken != "" && method != "Check" && (len(auth) != 1 || auth[0] != "Bearer "+f.requireToken) {
		if len(auth) == 0 {
			return status.Error(codes.Unauthenticated, "this call needs credentials: send Authorization: Bearer <API key or token>")
		}
		return status.Error(codes.Unauthenticated, "invalid API key or token")
	}
	return nil
}

func (f *fakeServer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	m, _ := req.(proto.Message)
	if err := f.record(ctx, info.FullMethod, m); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// stream records a stream's call when its first message arrives.
func (f *fakeServer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &recordingStream{ServerStream: ss, f: f, method: info.FullMethod})
}

type recordingStream struct {
	grpc.ServerStream
	f        *fakeServer
	method   string
	recorded bool
	refused  error
}

func (s *recordingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.recorded {
		return s.refused
	}
	s.recorded = true
	req, _ := m.(proto.Message)
	if u, ok := m.(*pb.UploadRequest); ok {
		req = u.GetMetadata()
	}
	s.refused = s.f.record(s.Context(), s.method, req)
	return s.refused
}

// answer runs the answer set for method.
func answer[T proto.Message](f *fakeServer, method string, req proto.Message) (T, error) {
	f.mu.Lock()
	fn := f.answers[method]
	f.mu.Unlock()
	var zero T
	if fn == nil {
		return zero, status.Errorf(codes.Unimplemented, "the fake has no answer to %s", method)
	}
	resp, err := fn(req)
	if err != nil {
		return zero, err
	}
	return resp.(T), nil
}

func fakeImage(id string, state pb.ImageState) *pb.Image {
	return &pb.Image{Id: id, State: state, CreateTime: fakeTime, UpdateTime: fakeTime}
}

func fakeKey() *pb.ApiKey {
	return &pb.ApiKey{Id: fakeKeyID, Tenant: "acme", Name: "ci", Scopes: []string{"upload", "read"}, CreateTime: fakeTime}
}

// defaultAnswers answer every call each client command makes.
func defaultAnswers() map[string]func(proto.Message) (proto.Message, error) {
	notFound := func(proto.Message) (proto.Message, error) { return nil, status.Error(codes.NotFound, "not found") }
	return map[string]func(proto.Message) (proto.Message, error){
		"GetImage": func(req proto.Message) (proto.Message, error) {
			return &pb.GetImageResponse{Image: fakeImage(req.(*pb.GetImageRequest).GetId(), pb.ImageState_IMAGE_STATE_READY)}, nil
		},
		"GetBatch":    notFound,
		"LookupImage": notFound,
		"RetryImages": func(proto.Message) (proto.Message, error) { return &pb.RetryImagesResponse{}, nil },
		"CreateApiKey": func(proto.Message) (proto.Message, error) {
			return &pb.CreateApiKeyResponse{Key: fakeKey(), Secret: fakeSecret}, nil
		},
		"ListApiKeys": func(proto.Message) (proto.Message, error) {
			return &pb.ListApiKeysResponse{Keys: []*pb.ApiKey{fakeKey()}}, nil
		},
		"ListDeadLetters": func(proto.Message) (proto.Message, error) {
			return &pb.ListDeadLettersResponse{}, nil
		},
		"RedriveDeadLetters": func(proto.Message) (proto.Message, error) { return &pb.RedriveDeadLettersResponse{}, nil },
		"PurgeDeadLetters":   func(proto.Message) (proto.Message, error) { return &pb.PurgeDeadLettersResponse{}, nil },
		"RevokeApiKey": func(proto.Message) (proto.Message, error) {
			k := fakeKey()
			k.RevokeTime = fakeTime
			return &pb.RevokeApiKeyResponse{Key: k}, nil
		},
		"RotateWebhookSecret": func(proto.Message) (proto.Message, error) {
			return &pb.RotateWebhookSecretResponse{Secret: "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldw", ValidSecrets: 2}, nil
		},
		"DeleteImage": func(req proto.Message) (proto.Message, error) {
			img := fakeImage(req.(*pb.DeleteImageRequest).GetId(), pb.ImageState_IMAGE_STATE_DELETED)
			img.DeleteTime = fakeTime
			return &pb.DeleteImageResponse{Image: img}, nil
		},
		"DeleteBatch": func(proto.Message) (proto.Message, error) {
			return &pb.DeleteBatchResponse{ImageIds: []string{fakeImageID}}, nil
		},
		"SignURL": func(req proto.Message) (proto.Message, error) {
			exp := timestamppb.New(fakeTime.AsTime().Add(time.Hour))
			var vs []*pb.VariantInfo
			for _, name := range []string{"thumb", "medium"} {
				if r := req.(*pb.SignURLRequest); r.GetVariant() == "" || r.GetVariant() == name {
					vs = append(vs, &pb.VariantInfo{Name: name, UrlExpireTime: exp,
						Url: "http://localhost:8080/v/" + r.GetImageId() + "/" + name + "?exp=1796468400&sig=abc"})
				}
			}
			return &pb.SignURLResponse{Variants: vs, ExpireTime: exp}, nil
		},
	}
}

type fakeAdmin struct {
	pb.UnimplementedAdminServiceServer
	f *fakeServer
}

func (s fakeAdmin) ListDeadLetters(_ context.Context, r *pb.ListDeadLettersRequest) (*pb.ListDeadLettersResponse, error) {
	return answer[*pb.ListDeadLettersResponse](s.f, "ListDeadLetters", r)
}

func (s fakeAdmin) RedriveDeadLetters(_ context.Context, r *pb.RedriveDeadLettersRequest) (*pb.RedriveDeadLettersResponse, error) {
	return answer[*pb.RedriveDeadLettersResponse](s.f, "RedriveDeadLetters", r)
}

func (s fakeAdmin) PurgeDeadLetters(_ context.Context, r *pb.PurgeDeadLettersRequest) (*pb.PurgeDeadLettersResponse, error) {
	return answer[*pb.PurgeDeadLettersResponse](s.f, "PurgeDeadLetters", r)
}

func (s fakeAdmin) RetryImages(_ context.Context, r *pb.RetryImagesRequest) (*pb.RetryImagesResponse, error) {
	return answer[*pb.RetryImagesResponse](s.f, "RetryImages", r)
}

func (s fakeAdmin) CreateApiKey(_ context.Context, r *pb.CreateApiKeyRequest) (*pb.CreateApiKeyResponse, error) {
	return answer[*pb.CreateApiKeyResponse](s.f, "CreateApiKey", r)
}

func (s fakeAdmin) ListApiKeys(_ context.Context, r *pb.ListApiKeysRequest) (*pb.ListApiKeysResponse, error) {
	return answer[*pb.ListApiKeysResponse](s.f, "ListApiKeys", r)
}

func (s fakeAdmin) RevokeApiKey(_ context.Context, r *pb.RevokeApiKeyRequest) (*pb.RevokeApiKeyResponse, error) {
	return answer[*pb.RevokeApiKeyResponse](s.f, "RevokeApiKey", r)
}

func (s fakeAdmin) RotateWebhookSecret(_ context.Context, r *pb.RotateWebhookSecretRequest) (*pb.RotateWebhookSecretResponse, error) {
	return answer[*pb.RotateWebhookSecretResponse](s.f, "RotateWebhookSecret", r)
}

type fakeStatus struct {
	pb.UnimplementedStatusServiceServer
	f *fakeServer
}

func (s fakeStatus) GetImage(_ context.Context, r *pb.GetImageRequest) (*pb.GetImageResponse, error) {
	return answer[*pb.GetImageResponse](s.f, "GetImage", r)
}

func (s fakeStatus) GetBatch(_ context.Context, r *pb.GetBatchRequest) (*pb.GetBatchResponse, error) {
	return answer[*pb.GetBatchResponse](s.f, "GetBatch", r)
}

func (s fakeStatus) LookupImage(_ context.Context, r *pb.LookupImageRequest) (*pb.LookupImageResponse, error) {
	return answer[*pb.LookupImageResponse](s.f, "LookupImage", r)
}

func (s fakeStatus) SignURL(_ context.Context, r *pb.SignURLRequest) (*pb.SignURLResponse, error) {
	return answer[*pb.SignURLResponse](s.f, "SignURL", r)
}

// WatchImage sends the image READY.
func (s fakeStatus) WatchImage(r *pb.WatchImageRequest, stream grpc.ServerStreamingServer[pb.WatchImageResponse]) error {
	return stream.Send(&pb.WatchImageResponse{Image: fakeImage(r.GetId(), pb.ImageState_IMAGE_STATE_READY)})
}

type fakeProcessor struct {
	pb.UnimplementedProcessorServiceServer
	f *fakeServer
}

func (s fakeProcessor) DeleteImage(_ context.Context, r *pb.DeleteImageRequest) (*pb.DeleteImageResponse, error) {
	return answer[*pb.DeleteImageResponse](s.f, "DeleteImage", r)
}

func (s fakeProcessor) DeleteBatch(_ context.Context, r *pb.DeleteBatchRequest) (*pb.DeleteBatchResponse, error) {
	return answer[*pb.DeleteBatchResponse](s.f, "DeleteBatch", r)
}

type fakeIngest struct {
	pb.UnimplementedIngestServiceServer
	f *fakeServer
}

// Upload reads the whole stream and answers a QUEUED image.
func (s fakeIngest) Upload(stream grpc.ClientStreamingServer[pb.UploadRequest, pb.UploadResponse]) error {
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	return stream.SendAndClose(&pb.UploadResponse{Image: fakeImage(fakeImageID, pb.ImageState_IMAGE_STATE_QUEUED)})
}
