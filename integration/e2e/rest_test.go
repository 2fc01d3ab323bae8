package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/protobuf/encoding/protojson"
)

// GET /v1/images/{id}:watch streams one JSON object per state change and
// ends at the terminal state.
func TestRESTWatchStreamsStates(t *testing.T) {
	s := sharedServer(t)
	r := s.post(t, "/v1/images?wait=0", "image/png", bytes.NewReader(imagetest.Fixture(t, "chelsea-alpha.png")))
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	id := r.image(t).GetId()
	resp, err := s.HTTP.Get(s.Base + "/v1/images/" + id + ":watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	var states []pb.ImageState
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Error != nil {
			t.Fatalf("watch line %q: %v", sc.Text(), err)
		}
		img := &pb.Image{}
		if err := protojson.Unmarshal(line.Result, img); err != nil {
			t.Fatalf("watch result %s: %v", line.Result, err)
		}
		if img.GetId() != id {
			t.Fatalf("watch of %s streamed image %s", id, img.GetId())
		}
		states = append(states, img.GetState())
	}
	if len(states) == 0 || states[len(states)-1] != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("streamed states %v, want them to end READY", states)
	}
	for i := 1; i < len(states); i++ {
		if states[i] <= states[i-1] && states[i] != pb.ImageState_IMAGE_STATE_PROCESSING {
			t.Errorf("streamed states %v: not moving forward", states)
		}
	}
	if r := s.get(t, "/v1/images/01a1ff50-8b2a-7e2e-8551-947056a03ce5:watch"); r.code != http.StatusNotFound {
		t.Errorf("watch of an unknown id: %d", r.code)
	}
}

func TestOpenAPIAndHealth(t *testing.T) {
	s := sharedServer(t)
	r := s.get(t, "/openapi.json")
	var doc struct {
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if r.code != http.StatusOK || json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("/openapi.json: %d", r.code)
	}
	for _, p := range []string{"/v1/images", "/a/{id}/{variant}", "/v1/images/{id}", "/v1/batches/{id}", "/v1/images/{id}:watch", "/v1/presets"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("OpenAPI document lacks %s", p)
		}
	}
	h := s.get(t, "/healthz")
	if h.code != http.StatusOK || !bytes.Contains(h.body, []byte(`"imagepipe.v1.IngestService":"SERVING"`)) {
		t.Errorf("/healthz: %d %s", h.code, h.body)
	}
}

// A traceparent sent with the upload reaches the processor through the
// queue message's attributes and tags its log lines.
func TestTraceContextReachesTheProcessor(t *testing.T) {
	s := sharedServer(t)
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	req, _ := http.NewRequest(http.MethodPost, s.Base+"/v1/images?wait=30s", bytes.NewReader(imagetest.Fixture(t, "coffee.png")))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	r := s.do(t, req)
	if r.code != http.StatusOK {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	id := r.image(t).GetId()
	for _, line := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(line, id) && strings.Contains(line, `"msg":"image ready"`) {
			if !strings.Contains(line, `"trace_id":"`+traceID+`"`) {
				t.Fatalf("processor log line without the trace id: %s", line)
			}
			return
		}
	}
	t.Fatalf("no 'image ready' log line for %s", id)
}
