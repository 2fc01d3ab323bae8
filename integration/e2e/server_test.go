package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// server is an imagepipe process started in-process on loopback.
type server struct {
	app     *app.App
	cfg     app.Config
	base    string // http://127.0.0.1:port
	logs    *syncBuffer
	stop    context.CancelFunc
	stopped chan error
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

// testConfig is the all-in-one config on a fresh data dir with short
// timeouts, so redelivery tests take seconds.
func testConfig(dir string) app.Config {
	cfg := app.DefaultConfig()
	cfg.DataDir = dir
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.Processor.Visibility = 2 * time.Second
	cfg.Processor.RetryBackoff = 100 * time.Millisecond
	cfg.Processor.PollWait = 500 * time.Millisecond
	cfg.LogLevel = "debug"
	return cfg
}

// launch starts a server and waits until it is healthy.
func launch(cfg app.Config, opts ...app.Option) (*server, error) {
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(logs, cfg.LogLevel), opts...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", cfg.Target, err)
	}
	s := &server{app: a, cfg: cfg, logs: logs, stop: cancel, stopped: make(chan error, 1)}
	go func() { s.stopped <- a.Run(ctx) }()
	if a.HTTPAddr() != "" {
		s.base = "http://" + a.HTTPAddr()
		if err := waitHealthy(s.base); err != nil {
			s.kill()
			return nil, fmt.Errorf("%w; logs:\n%s", err, logs.String())
		}
	}
	return s, nil
}

// start runs a server until the test ends; its logs are printed if the
// test fails.
func start(t testing.TB, cfg app.Config, opts ...app.Option) *server {
	t.Helper()
	s, err := launch(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", cfg.Target, s.logs.String())
		}
	})
	return s
}

// kill stops the server (idempotent) and waits for it.
func (s *server) kill() {
	s.stop()
	select {
	case <-s.stopped:
		s.stopped <- nil
	case <-time.After(15 * time.Second):
	}
}

func waitHealthy(base string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s/healthz never became healthy", base)
}

func (s *server) grpcConn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// response is an HTTP answer read whole.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: body}
}

func (s *server) get(t testing.TB, path string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	return do(t, req)
}

func (s *server) post(t testing.TB, path, contentType string, body io.Reader) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func (r response) image(t testing.TB) *pb.Image {
	t.Helper()
	img := &pb.Image{}
	if err := protojson.Unmarshal(r.body, img); err != nil {
		t.Fatalf("response is not an Image (%d): %v\n%s", r.code, err, r.body)
	}
	return img
}

type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"error"`
}

func (r response) errorBody(t testing.TB) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == 0 {
		t.Fatalf("response is not an error body (%d): %v\n%s", r.code, err, r.body)
	}
	return e
}

// waitState polls GET /v1/images/{id} until the image is terminal.
func (s *server) waitTerminal(t testing.TB, id string, within time.Duration) *pb.Image {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := s.get(t, "/v1/images/"+id)
		if r.code != http.StatusOK {
			t.Fatalf("GET image %s: %d %s", id, r.code, r.body)
		}
		img := r.image(t)
		if st := img.GetState(); st == pb.ImageState_IMAGE_STATE_READY || st == pb.ImageState_IMAGE_STATE_FAILED {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s still %s after %s", id, img.GetState(), within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assetPath is the path part of a variant URL, fetched from this server.
func assetPath(t testing.TB, url string) string {
	t.Helper()
	i := strings.Index(url, "/a/")
	if i < 0 {
		t.Fatalf("variant URL %q has no /a/ path", url)
	}
	return url[i:]
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}

func unmarshal(b []byte, m proto.Message) error {
	return protojson.Unmarshal(b, m)
}
