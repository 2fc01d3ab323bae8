package e2e_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// uploadGRPC streams data through IngestService.Upload in 16 KiB chunks.
func uploadGRPC(t *testing.T, conn grpc.ClientConnInterface, md *pb.UploadMetadata, data []byte) (*pb.Image, error) {
	t.Helper()
	stream, err := pb.NewIngestServiceClient(conn).Upload(context.Background())
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: md}}); err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 16<<10)
		if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: data[:n]}}); err != nil {
			break
		}
		data = data[n:]
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetImage(), err
}

// Operators use grpcurl: reflection lists every service, health answers.
func TestGRPCReflectionAndHealth(t *testing.T) {
	conn := sharedServer(t).Conn(t)
	ctx := context.Background()
	rc, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"imagepipe.v1.IngestService", "imagepipe.v1.StatusService", "imagepipe.v1.ProcessorService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	for _, svc := range []string{"", "imagepipe.v1.IngestService", "imagepipe.v1.StatusService", "imagepipe.v1.ProcessorService"} {
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v %v", svc, h.GetStatus(), err)
		}
	}
}

func TestGRPCUploadWatchAndIdempotency(t *testing.T) {
	conn := sharedServer(t).Conn(t)
	src := imagetest.Fixture(t, "dandelion.jpg")
	md := &pb.UploadMetadata{FileName: "d.jpg", IdempotencyKey: "grpc-test-" + time.Now().Format(time.RFC3339Nano)}
	img, err := uploadGRPC(t, conn, md, src)
	if err != nil {
		t.Fatal(err)
	}
	// Watch from the start: every state in order, ending READY.
	stream, err := pb.NewStatusServiceClient(conn).WatchImage(context.Background(), &pb.WatchImageRequest{Id: img.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var states []pb.ImageState
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, resp.GetImage().GetState())
	}
	if len(states) == 0 || states[len(states)-1] != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("watched %v, want it to end READY", states)
	}
	for i := 1; i < len(states); i++ {
		if states[i] < states[i-1] {
			t.Errorf("watched %v: state went backwards", states)
		}
	}
	// The same idempotency key returns the same image, without a second copy.
	again, err := uploadGRPC(t, conn, md, src)
	if err != nil {
		t.Fatal(err)
	}
	if again.GetId() != img.GetId() || again.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Errorf("retry with the same key: id %s state %s, want %s READY", again.GetId(), again.GetState(), img.GetId())
	}
}

func TestGRPCErrorsCarryCodeReasonAndField(t *testing.T) {
	conn := sharedServer(t).Conn(t)
	src := imagetest.Fixture(t, "dandelion.jpg")
	cases := []struct {
		name   string
		md     *pb.UploadMetadata
		data   []byte
		code   codes.Code
		reason string
		field  string
	}{
		{"empty", &pb.UploadMetadata{}, nil, codes.InvalidArgument, apperr.ReasonEmptyBody, "chunk"},
		{"not an image", &pb.UploadMetadata{}, []byte("plain text, not pixels"), codes.InvalidArgument, apperr.ReasonUnsupportedFormat, "chunk"},
		{"unknown preset", &pb.UploadMetadata{Preset: "nope"}, src, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.preset"},
		{"wait too long", &pb.UploadMetadata{Wait: durationpb.New(time.Hour)}, src, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.wait"},
		{"bad quality", &pb.UploadMetadata{Spec: &pb.ProcessingSpec{Variants: []*pb.VariantSpec{
			{Name: "x", Width: 10, Format: pb.Format_FORMAT_JPEG, Quality: 101}}}}, src, codes.InvalidArgument, apperr.ReasonInvalidField, "metadata.spec.variants[0].quality"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := uploadGRPC(t, conn, c.md, c.data)
			st := status.Convert(err)
			reason, field := apperr.Info(st)
			if st.Code() != c.code || reason != c.reason || field != c.field {
				t.Errorf("got %s %s %q (%s), want %s %s %q", st.Code(), reason, field, st.Message(), c.code, c.reason, c.field)
			}
		})
	}
	_, err := pb.NewStatusServiceClient(conn).GetImage(context.Background(), &pb.GetImageRequest{Id: "01a1ff50-8b2a-7e2e-8551-947056a03ce5"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetImage of an unknown id: %v, want NotFound", err)
	}
}

func TestPresetsAndReprocess(t *testing.T) {
	s := sharedServer(t)
	conn := s.Conn(t)
	presets, err := pb.NewProcessorServiceClient(conn).ListPresets(context.Background(), &pb.ListPresetsRequest{})
	if err != nil || len(presets.GetPresets()) == 0 || presets.GetPresets()[0].GetName() != "default" {
		t.Fatalf("ListPresets: %v %v", presets, err)
	}
	img, err := uploadGRPC(t, conn, &pb.UploadMetadata{Wait: durationpb.New(30 * time.Second)}, imagetest.Fixture(t, "coffee.png"))
	if err != nil || img.GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("upload: %v %v", img.GetState(), err)
	}
	spec := &pb.ProcessingSpec{Variants: []*pb.VariantSpec{{Name: "square", Width: 100, Height: 100, Fit: pb.Fit_FIT_COVER, Format: pb.Format_FORMAT_JPEG}}}
	re, err := pb.NewProcessorServiceClient(conn).Reprocess(context.Background(), &pb.ReprocessRequest{ImageId: img.GetId(), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if re.GetImage().GetId() == img.GetId() || re.GetImage().GetSourceImageId() != img.GetId() {
		t.Fatalf("reprocessed image %s from %s, want a new id sourced from %s", re.GetImage().GetId(), re.GetImage().GetSourceImageId(), img.GetId())
	}
	done := s.waitTerminal(t, re.GetImage().GetId(), 30*time.Second)
	if done.GetState() != pb.ImageState_IMAGE_STATE_READY || len(done.GetVariants()) != 1 {
		t.Fatalf("reprocessed: %s %v", done.GetState(), done.GetError())
	}
	out := imagetest.Decode(t, s.get(t, assetPath(t, done.GetVariants()[0].GetUrl())).body)
	if out.Width != 100 || out.Height != 100 || out.Format != "jpeg" {
		t.Errorf("reprocessed variant %dx%d %s, want 100x100 jpeg", out.Width, out.Height, out.Format)
	}
	// The first image's variants are untouched.
	if r := s.get(t, assetPath(t, img.GetVariants()[0].GetUrl())); r.code != 200 {
		t.Errorf("original variant now %d", r.code)
	}
}
