package status_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/services/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	received   = pb.ImageState_IMAGE_STATE_RECEIVED
	queued     = pb.ImageState_IMAGE_STATE_QUEUED
	processing = pb.ImageState_IMAGE_STATE_PROCESSING
	ready      = pb.ImageState_IMAGE_STATE_READY
	failed     = pb.ImageState_IMAGE_STATE_FAILED
)

// principalKey is the metadata the test server takes the caller from,
// "tenant/scope,scope" (see as); a call without it carries no principal, as
// if no authentication ran, so the service's own checks are what is
// tested.
const principalKey = "test-principal"

// as returns ctx calling as tenant with scopes.
func as(ctx context.Context, tenant string, scopes ...auth.Scope) context.Context {
	return metadata.AppendToOutgoingContext(ctx, principalKey, tenant+"/"+strings.Join(auth.ScopeStrings(scopes), ","))
}

// operator returns ctx calling as the operator: an admin of tenant default.
func operator(ctx context.Context) context.Context {
	return as(ctx, auth.DefaultTenant, auth.ScopeAdmin)
}

// withPrincipal stands in for auth.Interceptors: it puts the principal
// the call's metadata names into the context.
func withPrincipal(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(principalKey)
	if len(v) == 0 {
		return ctx
	}
	tenant, scopes, _ := strings.Cut(v[0], "/")
	return auth.NewContext(ctx, auth.Principal{Tenant: tenant, Scopes: auth.KnownScopes(strings.Split(scopes, ","))})
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s principalStream) Context() context.Context { return s.ctx }

// signKey is the test server's URL signing key.
var signKey = []byte("0123456789abcdef0123456789abcdef")

func newSigner(t *testing.T) *urlsign.Signer {
	t.Helper()
	s, err := urlsign.New([][]byte{signKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs the status service on a loopback gRPC server, with the
// interceptors the app uses (a test stand-in for authentication), over a
// fresh SQLite store.
func serve(t *testing.T, poll time.Duration) (pb.StatusServiceClient, records.Store) {
	t.Helper()
	cfg := status.DefaultConfig()
	cfg.PollInterval = poll
	return serveConfig(t, cfg)
}

// serveConfig is serve with the given config.
func serveConfig(t *testing.T, cfg status.Config) (pb.StatusServiceClient, records.Store) {
	return serveWrapped(t, cfg, func(rs records.Store) records.Store { return rs })
}

// serveWrapped is serveConfig with the service reading the store through
// wrap (the store returned is the unwrapped one).
func serveWrapped(t *testing.T, cfg status.Config, wrap func(records.Store) records.Store) (pb.StatusServiceClient, records.Store) {
	t.Helper()
	rs, err := sqliterecords.New(filepath.Join(t.TempDir(), "status.db"))
	if err != nil {
		t.Fatal(err)
	}
	signer := newSigner(t)
	svc, err := status.New(cfg, status.Deps{Records: wrap(rs), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	authUnary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(withPrincipal(ctx), req)
	}
	authStream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, principalStream{ServerStream: ss, ctx: withPrincipal(ss.Context())})
	}
	signUnary, signStream := signer.Interceptors(cfg.SignedURLTTL)
	srv := grpc.NewServer(
		grpc.ChainStreamInterceptor(apperr.StreamInterceptor(log), authStream, signStream),
		grpc.ChainUnaryInterceptor(apperr.UnaryInterceptor(log), authUnary, signUnary))
	pb.RegisterStatusServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		rs.Close()
	})
	return pb.NewStatusServiceClient(conn), rs
}

// createBatch creates n RECEIVED images in batch id and returns their ids
// in id order.
func createBatch(t *testing.T, rs records.Store, batch string, n int, size int32) []string {
	t.Helper()
	var ids []string
	for range n {
		img := &pb.Image{Id: recordstest.NewID(t), BatchId: batch, State: received, BatchSize: size}
		if _, err := rs.Create(context.Background(), img); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, img.GetId())
	}
	slices.Sort(ids)
	return ids
}

func move(t *testing.T, rs records.Store, id string, to pb.ImageState) {
	t.Helper()
	if _, err := records.Mutate(context.Background(), rs, id, func(img *pb.Image) error {
		img.State = to
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func watchBatch(t *testing.T, c pb.StatusServiceClient, id string) grpc.ServerStreamingClient[pb.WatchBatchResponse] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := c.WatchBatch(operator(ctx), &pb.WatchBatchRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func recv(t *testing.T, stream grpc.ServerStreamingClient[pb.WatchBatchResponse]) *pb.WatchBatchResponse {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if len(resp.GetBatch().GetImages()) != 0 {
		t.Errorf("watch message lists %d images; the summary omits them", len(resp.GetBatch().GetImages()))
	}
	return resp
}

func wantEnd(t *testing.T, stream grpc.ServerStreamingClient[pb.WatchBatchResponse]) {
	t.Helper()
	if resp, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after completion: %v, %v; want the stream to end", resp, err)
	}
}

// The summary of each message is the one GetBatch would give at that point.
func TestWatchBatchFollowsEveryTransition(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	ids := createBatch(t, rs, "trip", 3, 0)
	stream := watchBatch(t, c, "trip")

	first := recv(t, stream)
	if first.GetImage() != nil {
		t.Errorf("first message carries image %s", first.GetImage().GetId())
	}
	if b := first.GetBatch(); b.GetId() != "trip" || b.GetTotal() != 3 || b.GetCounts()[received.String()] != 3 || b.GetState() != pb.BatchState_BATCH_STATE_PENDING {
		t.Fatalf("first summary = %v", b)
	}

	// One change at a time, each awaited, so every version is seen.
	steps := []struct {
		image int
		to    pb.ImageState
	}{
		{0, queued}, {1, queued}, {0, processing}, {2, queued}, {1, processing},
		{0, ready}, {2, processing}, {1, failed}, {2, processing}, {2, ready},
	}
	seen := map[string][]pb.ImageState{}
	for i, s := range steps {
		move(t, rs, ids[s.image], s.to)
		m := recv(t, stream)
		if m.GetImage().GetId() != ids[s.image] || m.GetImage().GetState() != s.to {
			t.Fatalf("step %d: got image %s %s, want %s %s", i, m.GetImage().GetId(), m.GetImage().GetState(), ids[s.image], s.to)
		}
		seen[ids[s.image]] = append(seen[ids[s.image]], m.GetImage().GetState())
		want, err := records.SummarizeBatch(context.Background(), rs, records.DefaultTenant, "trip", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m.GetBatch(), want) {
			t.Fatalf("step %d: summary %v, want %v", i, m.GetBatch(), want)
		}
		if last := i == len(steps)-1; last != (m.GetBatch().GetState() != pb.BatchState_BATCH_STATE_PENDING) {
			t.Fatalf("step %d: batch state %s", i, m.GetBatch().GetState())
		}
	}
	if got := seen[ids[2]]; !slices.Equal(got, []pb.ImageState{queued, processing, processing, ready}) {
		t.Errorf("image 2 went %v", got)
	}
	wantEnd(t, stream)
}

// Changes seen in one poll are sent in id order, and the stream ends with
// the message that completes the batch.
func TestWatchBatchSendsOnePollInIDOrder(t *testing.T) {
	c, rs := serve(t, time.Second)
	ids := createBatch(t, rs, "poll", 3, 0)
	stream := watchBatch(t, c, "poll")
	recv(t, stream)
	// The next poll is a second away: these three land in one poll.
	for _, i := range []int{2, 1, 0} {
		move(t, rs, ids[i], ready)
	}
	for i, id := range ids {
		m := recv(t, stream)
		if m.GetImage().GetId() != id {
			t.Fatalf("message %d is for %s, want %s (id order)", i, m.GetImage().GetId(), id)
		}
		if got := m.GetBatch().GetCounts()[ready.String()]; got != int32(i+1) {
			t.Errorf("message %d: %d READY, want %d", i, got, i+1)
		}
	}
	wantEnd(t, stream)
}

// With batch_size 3, a batch of two finished images stays open until the
// third arrives and finishes.
func TestWatchBatchWaitsForExpectedSize(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	ids := createBatch(t, rs, "three", 2, 3)
	for _, id := range ids {
		move(t, rs, id, ready)
	}
	stream := watchBatch(t, c, "three")
	first := recv(t, stream)
	if b := first.GetBatch(); b.GetExpected() != 3 || b.GetTotal() != 2 || b.GetState() != pb.BatchState_BATCH_STATE_PENDING {
		t.Fatalf("first summary = %v, want 2 of 3 expected, PENDING", b)
	}
	third := createBatch(t, rs, "three", 1, 3)[0]
	m := recv(t, stream)
	if m.GetImage().GetId() != third || m.GetBatch().GetTotal() != 3 || m.GetBatch().GetState() != pb.BatchState_BATCH_STATE_PENDING {
		t.Fatalf("after the third upload: %v", m)
	}
	move(t, rs, third, failed)
	m = recv(t, stream)
	if m.GetBatch().GetState() != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED {
		t.Fatalf("after the third failed: %v", m.GetBatch())
	}
	wantEnd(t, stream)
}

// A batch complete at the start gets its summary and the end.
func TestWatchBatchAlreadyComplete(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	for _, id := range createBatch(t, rs, "done", 2, 0) {
		move(t, rs, id, ready)
	}
	stream := watchBatch(t, c, "done")
	if b := recv(t, stream).GetBatch(); b.GetState() != pb.BatchState_BATCH_STATE_READY || b.GetCounts()[ready.String()] != 2 {
		t.Fatalf("summary = %v", b)
	}
	wantEnd(t, stream)
}

func TestWatchBatchErrors(t *testing.T) {
	c, _ := serve(t, 10*time.Millisecond)
	cases := []struct {
		id    string
		code  codes.Code
		field string
	}{
		{"", codes.InvalidArgument, "id"},
		{"nobody", codes.NotFound, ""},
	}
	for _, tc := range cases {
		_, err := watchBatch(t, c, tc.id).Recv()
		st := grpcstatus.Convert(err)
		if _, field := apperr.Info(st); st.Code() != tc.code || field != tc.field {
			t.Errorf("WatchBatch(%q) = %v (field %q), want %s (field %q)", tc.id, err, field, tc.code, tc.field)
		}
	}
}

// WatchImage streams each version once and ends at the terminal state.
func TestWatchImage(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	id := createBatch(t, rs, "", 1, 0)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.WatchImage(operator(ctx), &pb.WatchImageRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	var got []pb.ImageState
	for _, to := range []pb.ImageState{queued, processing, ready} {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.GetImage().GetState())
		move(t, rs, id, to)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.GetImage().GetState())
	}
	if want := []pb.ImageState{received, queued, processing, ready}; !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	_, err = watchImageErr(c, "01a1ff50-8b2a-7e2e-8551-947056a03ce5")
	if grpcstatus.Code(err) != codes.NotFound {
		t.Errorf("WatchImage of an unknown id: %v", err)
	}
}

func watchImageErr(c pb.StatusServiceClient, id string) (*pb.WatchImageResponse, error) {
	stream, err := c.WatchImage(operator(context.Background()), &pb.WatchImageRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return stream.Recv()
}

// forgetful is a records.Store whose BatchChanges leaves out every image
// while skip is set, as the contract allows for an image written again
// after the range asked for.
type forgetful struct {
	records.Store
	skip atomic.Bool
}

func (f *forgetful) BatchChanges(ctx context.Context, tenant, batchID string, after, upTo int64) ([]*records.Record, error) {
	if f.skip.Load() {
		return nil, nil
	}
	return f.Store.BatchChanges(ctx, tenant, batchID, after, upTo)
}

// A watch whose counter already reads complete, but whose changes left
// out the image that completed the batch, does not end until it has sent
// that image (under the counter's next number).
func TestWatchBatchSendsTheCompletingImage(t *testing.T) {
	f := &forgetful{}
	c, rs := serveWrapped(t, status.DefaultConfig(), func(rs records.Store) records.Store {
		f.Store = rs
		return f
	})
	ids := createBatch(t, rs, "late", 2, 0)
	move(t, rs, ids[0], ready)
	stream := watchBatch(t, c, "late")
	if b := recv(t, stream).GetBatch(); b.GetState() != pb.BatchState_BATCH_STATE_PENDING {
		t.Fatalf("first summary = %v", b)
	}
	f.skip.Store(true)
	move(t, rs, ids[1], ready)
	time.Sleep(3 * status.DefaultConfig().PollInterval) // polls that see the counter complete, and no change
	f.skip.Store(false)
	if _, err := records.Mutate(context.Background(), rs, ids[1], func(img *pb.Image) error {
		img.CallbackUrl = "https://example.com/hook" // a later write: the counter moves on
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := recv(t, stream)
	if m.GetImage().GetId() != ids[1] || m.GetImage().GetState() != ready || m.GetBatch().GetState() != pb.BatchState_BATCH_STATE_READY {
		t.Fatalf("last message = %v, want image %s READY completing the batch", m, ids[1])
	}
	wantEnd(t, stream)
}
