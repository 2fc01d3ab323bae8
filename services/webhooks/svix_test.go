package webhooks_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// requireEnv, when "1", turns missing test tools into a failure; `make
// test` sets it (as awstest.RequireEnv).
const requireEnv = "IMAGEPIPE_REQUIRE_AWS"

// svixModules returns the node_modules directory scripts/deps.sh --test
// installs svix into ($IMAGEPIPE_TEST_NPM, default
// ~/.cache/imagepipe/npm-test), or skips the test (fails it under make
// test) when node or svix is missing.
func svixModules(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IMAGEPIPE_TEST_NPM")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "imagepipe", "npm-test")
	}
	modules := filepath.Join(dir, "node_modules")
	_, nodeErr := exec.LookPath("node")
	_, svixErr := os.Stat(filepath.Join(modules, "svix", "package.json"))
	if nodeErr != nil || svixErr != nil {
		msg := "node or svix missing (svix in " + modules + "): run scripts/deps.sh --test (make test does)"
		if os.Getenv(requireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return modules
}

// savedRequest is a webhook request as a receiver got it, in the form
// testdata/svix-verify.js reads.
type savedRequest struct {
	Headers    map[string]string `json:"headers"`
	BodyBase64 string            `json:"body_base64"`
}

type svixResult struct {
	Svix    string `json:"svix"`
	Results []struct {
		OK    bool   `json:"ok"`
		ID    string `json:"id"`
		Error string `json:"error"`
	} `json:"results"`
}

// verifyWithSvix runs testdata/svix-verify.js on req for each secret.
func verifyWithSvix(t *testing.T, modules string, req savedRequest, secrets ...string) svixResult {
	t.Helper()
	file := filepath.Join(t.TempDir(), "request.json")
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", append([]string{filepath.Join("testdata", "svix-verify.js"), modules, file}, secrets...)...)
	cmd.Stderr = t.Output()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node svix-verify.js: %v", err)
	}
	t.Logf("svix-verify.js: %s", out)
	var res svixResult
	if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(secrets) {
		t.Fatalf("svix-verify.js printed %q (%v): want %d results", out, err, len(secrets))
	}
	return res
}

// A real delivery, from the dispatcher to a loopback receiver, verifies
// with svix's Webhook.verify (a Standard Webhooks implementation other
// than the one that signed it) under either configured secret, and with
// the Go reference library; a third secret or a changed body fails.
func TestSvixVerifiesDelivery(t *testing.T) {
	modules := svixModules(t)
	e := newEnv(t)
	var (
		mu    sync.Mutex
		saved []savedRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k := range r.Header {
			h[strings.ToLower(k)] = r.Header.Get(k) // as Node's http module gives them
		}
		mu.Lock()
		saved = append(saved, savedRequest{Headers: h, BodyBase64: base64.StdEncoding.EncodeToString(body)})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	e.start(t, testConfig())
	img := e.addImage(t, &pb.Image{Id: "img-svix", State: pb.ImageState_IMAGE_STATE_READY, CallbackUrl: srv.URL + "/hook"}, true)
	d := e.waitSettled(t, deliveries.Filter{ImageID: img.Id}, 1, delivered)[0]

	mu.Lock()
	defer mu.Unlock()
	if len(saved) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(saved))
	}
	req := saved[0]
	if req.Headers["webhook-id"] != d.GetId() {
		t.Fatalf("webhook-id %q, want the delivery's id %q", req.Headers["webhook-id"], d.GetId())
	}

	res := verifyWithSvix(t, modules, req, newSecret, oldSecret, otherSecret)
	for i, name := range []string{"new", "old"} {
		if r := res.Results[i]; !r.OK || r.ID != d.GetEventId() {
			t.Errorf("svix %s with the %s secret: %+v; want verified, event %s", res.Svix, name, r, d.GetEventId())
		}
	}
	if r := res.Results[2]; r.OK || !strings.Contains(r.Error, "No matching signature") {
		t.Errorf("svix with a third secret: %+v; want No matching signature found", r)
	}
	tampered := req
	body, _ := base64.StdEncoding.DecodeString(req.BodyBase64)
	tampered.BodyBase64 = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(body), "img-svix", "img-evil", 1)))
	if r := verifyWithSvix(t, modules, tampered, newSecret).Results[0]; r.OK {
		t.Errorf("svix verified a changed body: %+v", r)
	}

	// The Go reference library, as a Go receiver without this package.
	h := http.Header{}
	for k, v := range req.Headers {
		h.Set(k, v)
	}
	for _, s := range []string{newSecret, oldSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("standardwebhooks Verify: %v", err)
		}
	}
}
