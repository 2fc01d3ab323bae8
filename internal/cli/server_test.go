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
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
)

// testServer is an imagepipe server (target all) running in-process on
// loopback, with its own data directory.
type testServer struct {
	cfg    app.Config
	addr   string // gRPC
	status pb.StatusServiceClient
	admin  pb.AdminServiceClient
}

// startServer runs a server until the test ends and points the client
// commands at it through IMAGEPIPE_ADDR (the default of -addr).
func startServer(t *testing.T, opts ...app.Option) *testServer {
	t.Helper()
	cfg := apptest.Config(t.TempDir())
	cfg.LogLevel = "info"
	srv := apptest.Start(t, cfg, opts...)
	conn := srv.Conn(t)
	t.Setenv("IMAGEPIPE_ADDR", srv.App.GRPCAddr())
	t.Setenv("IMAGEPIPE_TOKEN", srv.Token)
	t.Setenv("IMAGEPIPE_TOKEN_FILE", "")
	return &testServer{cfg: cfg, addr: srv.App.GRPCAddr(), status: pb.NewStatusServiceClient(conn), admin: pb.NewAdminServiceClient(conn)}
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
