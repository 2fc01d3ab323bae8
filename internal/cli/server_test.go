package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/testkit/faultblob"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// testServer is an imagepipe server (target all) running in-process on
// loopback, with its own data directory.
type testServer struct {
	cfg    app.Config
	addr   string // gRPC
	status pb.StatusServiceClient
	admin  pb.AdminServiceClient
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs a server until the test ends and points the client
// failVariants makes the variants store's writes go through fault.
func failVariants(fault faultblob.Fault) app.Option {
	return app.WithVariantsStore(func(s blob.Store) blob.Store { return faultblob.Wrap(s, fault) })
}

// commands at it through IMAGEPIPE_ADDR (the default of -addr).
func startServer(t *testing.T, opts ...app.Option) *testServer {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Processor.Visibility = 2 * time.Second
	cfg.Processor.RetryBackoff = 100 * time.Millisecond
	cfg.Processor.PollWait = 500 * time.Millisecond
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(logs, "info"), opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Errorf("server did not stop")
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("IMAGEPIPE_ADDR", a.GRPCAddr())
	return &testServer{cfg: cfg, addr: a.GRPCAddr(), status: pb.NewStatusServiceClient(conn), admin: pb.NewAdminServiceClient(conn)}
}

// originals counts the originals in the server's file store.
func (s *testServer) originals(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.cfg.DataDir, "originals", "objects", "*.blob"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

func (s *testServer) batch(t *testing.T, id string) *pb.Batch {
	t.Helper()
	resp, err := s.status.GetBatch(context.Background(), &pb.GetBatchRequest{Id: id})
	if err != nil {
		t.Fatalf("GetBatch %s: %v", id, err)
	}
	return resp.GetBatch()
}

func (s *testServer) image(t *testing.T, id string) *pb.Image {
	t.Helper()
	resp, err := s.status.GetImage(context.Background(), &pb.GetImageRequest{Id: id})
	if err != nil {
		t.Fatalf("GetImage %s: %v", id, err)
	}
	return resp.GetImage()
}

// writePNGs writes n distinct noise PNGs of about 90 KB (two upload
// chunks each) to dir and returns their paths.
func writePNGs(t *testing.T, dir string, n int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var paths []string
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 200, 150))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(i*20), 255
		}
		img.Set(0, 0, color.NRGBA{uint8(i), 0, 0, 255})
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "photo-"+string(rune('a'+i))+".png")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// parseReport parses `imagepipe upload -json` output.
func parseReport(t *testing.T, stdout string) *uploadReport {
	t.Helper()
	var rep uploadReport
	dec := json.NewDecoder(bytes.NewReader([]byte(stdout)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("upload -json output is not a report: %v\n%s", err, stdout)
	}
	return &rep
}

// byFile indexes a report's results by file.
func (r *uploadReport) byFile() map[string]*uploadResult {
	m := map[string]*uploadResult{}
	for _, res := range r.Images {
		m[res.File] = res
	}
	return m
}
