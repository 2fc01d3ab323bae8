package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// server is an imagepipe process started in-process on loopback, with the
// HTTP helpers the tests use.
type server struct{ *apptest.Server }

// testConfig is the all-in-one config on a fresh data dir with short
// timeouts, so redelivery tests take seconds.
func testConfig(dir string) app.Config { return apptest.Config(dir) }

// launch starts a server and waits until it is healthy.
func launch(cfg app.Config, opts ...app.Option) (*server, error) {
	s, err := apptest.Launch(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return &server{s}, nil
}

// start runs a server until the test ends; its logs are printed if the
// test fails.
func start(t testing.TB, cfg app.Config, opts ...app.Option) *server {
	return &server{apptest.Start(t, cfg, opts...)}
}

// response is an HTTP answer read whole.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends req without credentials (a presigned URL, a public variant).
func do(t testing.TB, req *http.Request) response {
	t.Helper()
	return doWith(t, http.DefaultClient, req)
}

// do sends req with the operator's key unless it carries credentials of
// its own.
func (s *server) do(t testing.TB, req *http.Request) response {
	t.Helper()
	return doWith(t, s.HTTP, req)
}

func doWith(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
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
	req, _ := http.NewRequest(http.MethodGet, s.Base+path, nil)
	return s.do(t, req)
}

func (s *server) post(t testing.TB, path, contentType string, body io.Reader) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Base+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.do(t, req)
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
