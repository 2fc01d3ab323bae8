package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/engine/spec"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	_ "github.com/imagepipe/imagepipe/internal/stores/blob/fsblob" // file://
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/sqliterecords"
	"github.com/imagepipe/imagepipe/services/ingest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
)

// rig is the ingest service on real embedded stores (a file:// originals
// store, a SQLite queue and a SQLite status store, all in a temporary
// directory), served over gRPC on a loopback listener with the interceptors
// the app uses (a stand-in for its auth interceptor: see withPrincipal).
type rig struct {
	dir       string // the originals store's root
	originals blob.Store
	q         queue.Queue
	rs        records.Store
	client    pb.IngestServiceClient
	// caller is the outgoing metadata that names the caller to the rig's
	// principal interceptor; nil for the operator.
	caller []string
}

// Metadata keys of the rig's stand-in for the app's auth interceptor.
const (
	callerTenant = "x-test-tenant"
	callerScopes = "x-test-scopes"
)

// operator is the principal of a call that names no caller: what every
// call carries when auth is off.
var operator = auth.Principal{Tenant: auth.DefaultTenant, Scopes: []auth.Scope{auth.ScopeAdmin}}

// withPrincipal stands in for the app's auth interceptor: the principal
// is the one the call's metadata names (the operator if none; none at all
// for an empty tenant).
func withPrincipal(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	tenant := md.Get(callerTenant)
	switch {
	case len(tenant) == 0:
		return auth.NewContext(ctx, operator)
	case tenant[0] == "":
		return ctx
	}
	p := auth.Principal{Tenant: tenant[0]}
	for _, list := range md.Get(callerScopes) {
		for s := range strings.SplitSeq(list, ",") {
			if s != "" {
				p.Scopes = append(p.Scopes, auth.Scope(s))
			}
		}
	}
	return auth.NewContext(ctx, p)
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s principalStream) Context() context.Context { return s.ctx }

func principalUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(withPrincipal(ctx), req)
}

func principalStreams(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, principalStream{ServerStream: ss, ctx: withPrincipal(ss.Context())})
}

// as returns the rig calling as tenant with scopes.
func (r *rig) as(tenant string, scopes ...auth.Scope) *rig {
	c := *r
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	c.caller = []string{callerTenant, tenant, callerScopes, strings.Join(names, ",")}
	return &c
}

// anonymous returns the rig calling without credentials.
func (r *rig) anonymous() *rig {
	c := *r
	c.caller = []string{callerTenant, ""}
	return &c
}

// tenant is the caller's tenant (the default tenant for the operator and
// for an anonymous caller).
func (r *rig) tenant() string {
	if len(r.caller) < 2 || r.caller[1] == "" {
		return auth.DefaultTenant
	}
	return r.caller[1]
}

// ctx is a test context that names the rig's caller.
func (r *rig) ctx(t *testing.T) context.Context {
	if r.caller == nil {
		return t.Context()
	}
	return metadata.AppendToOutgoingContext(t.Context(), r.caller...)
}

// options change the rig before the service is built.
type options struct {
	cfg       ingest.Config
	callbacks ingest.CallbackCheck
	// wrap, if set, wraps the originals store given to the service (to give
	// it the presigning an S3 store has).
	wrap func(blob.Store) blob.Store
}

func newRig(t *testing.T, opt ...func(*options)) *rig {
	t.Helper()
	o := options{cfg: ingest.DefaultConfig()}
	o.cfg.PollInterval = 10 * time.Millisecond
	for _, f := range opt {
		f(&o)
	}
	tmp := t.TempDir()
	r := &rig{dir: filepath.Join(tmp, "originals")}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r.originals, err = blob.Open(context.Background(), "file://"+filepath.ToSlash(r.dir))
	must(err)
	r.q, err = sqlitequeue.New(filepath.Join(tmp, "queue.db"), sqlitequeue.DefaultOptions())
	must(err)
	r.rs, err = sqliterecords.New(filepath.Join(tmp, "status.db"))
	must(err)
	originals := r.originals
	if o.wrap != nil {
		originals = o.wrap(originals)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := ingest.New(o.cfg, ingest.Deps{Originals: originals, Queue: r.q, Records: r.rs, Presets: spec.Builtin(), Callbacks: o.callbacks, Log: log})
	must(err)

	srv := grpc.NewServer(grpc.ChainStreamInterceptor(apperr.StreamInterceptor(log), principalStreams),
		grpc.ChainUnaryInterceptor(apperr.UnaryInterceptor(log), principalUnary))
	pb.RegisterIngestServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(err)
	r.client = pb.NewIngestServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		r.q.Close()
		r.rs.Close()
		r.originals.Close()
	})
	return r
}

// msgs is an upload stream: the metadata message, then body in chunks.
// The first chunks are smaller than the sniffed header, so the service
// must assemble it from several messages.
func msgs(md *pb.UploadMetadata, body []byte) []*pb.UploadRequest {
	out := []*pb.UploadRequest{{Payload: &pb.UploadRequest_Metadata{Metadata: md}}}
	sizes := []int{5, 11}
	for len(body) > 0 {
		n := 32 << 10
		if len(sizes) > 0 {
			n, sizes = sizes[0], sizes[1:]
		}
		n = min(n, len(body))
		out = append(out, &pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: body[:n]}})
		body = body[n:]
	}
	return out
}

// send runs one Upload call with the given messages, as a client does: a
// Send that meets the server's early answer (io.EOF) stops sending, and
// CloseAndRecv returns the answer.
func (r *rig) send(t *testing.T, ms []*pb.UploadRequest) (*pb.UploadResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx(t), 30*time.Second)
	defer cancel()
	stream, err := r.client.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := stream.Send(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	return stream.CloseAndRecv()
}

// upload sends md and body.
func (r *rig) upload(t *testing.T, md *pb.UploadMetadata, body []byte) (*pb.UploadResponse, error) {
	t.Helper()
	return r.send(t, msgs(md, body))
}

// mustUpload uploads and fails the test on error.
func (r *rig) mustUpload(t *testing.T, md *pb.UploadMetadata, body []byte) *pb.Image {
	t.Helper()
	resp, err := r.upload(t, md, body)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return resp.GetImage()
}

// wantError checks an error's gRPC code and the reason and field of its
// google.rpc.ErrorInfo; a nil error fails the test at once.
func wantError(t *testing.T, err error, code codes.Code, reason, field string) {
	t.Helper()
	st, ok := grpcstatus.FromError(err)
	if !ok || err == nil {
		t.Fatalf("error = %v, want a gRPC status %s", err, code)
	}
	gotReason, gotField := apperr.Info(st)
	if st.Code() != code || gotReason != reason || gotField != field {
		t.Errorf("error = %s %q (reason %q, field %q), want %s (reason %q, field %q)",
			st.Code(), st.Message(), gotReason, gotField, code, reason, field)
	}
}

// objects counts the regular files under the originals store's root:
// objects, their metadata and any temporary file left behind.
func (r *rig) objects(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == r.dir {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && filepath.Base(filepath.Dir(path)) != "locks" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// jobs receives every job on the queue (without deleting them) and returns
// their image ids.
func (r *rig) jobs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for {
		ms, err := r.q.Receive(t.Context(), queue.ReceiveOptions{MaxMessages: 10, VisibilityTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			return ids
		}
		for _, m := range ms {
			j, err := jobs.Decode(m.Body)
			if err != nil {
				t.Fatalf("queue message %q: %v", m.Body, err)
			}
			ids = append(ids, j.ImageID)
		}
	}
}

// wantNothingQueued checks that the queue holds no message at all.
func (r *rig) wantNothingQueued(t *testing.T) {
	t.Helper()
	st, err := r.q.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st != (queue.Stats{}) {
		t.Errorf("queue stats %+v, want an empty queue", st)
	}
}

func (r *rig) record(t *testing.T, id string) *records.Record {
	t.Helper()
	rec, err := r.rs.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("record %s: %v", id, err)
	}
	return rec
}

// stored reads an original.
func (r *rig) stored(t *testing.T, key string) ([]byte, blob.Attrs) {
	t.Helper()
	rc, a, err := r.originals.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("original %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, a
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
