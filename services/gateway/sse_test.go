package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/services/gateway"
	"google.golang.org/protobuf/encoding/protojson"
)

// sseEvent is one parsed block of an event stream.
type sseEvent struct {
	id, event, data, retry string
	comments               []string
}

// sseReader reads events of a text/event-stream body.
type sseReader struct{ r *bufio.Reader }

// next reads up to the next blank line; io.EOF at the end of the body.
func (s sseReader) next(t *testing.T) (sseEvent, error) {
	t.Helper()
	var ev sseEvent
	var data []string
	lines := 0
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && lines == 0 && line == "" {
				return ev, io.EOF
			}
			t.Fatalf("event stream cut mid-event (%q): %v", line, err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		lines++
		if c, ok := strings.CutPrefix(line, ":"); ok {
			ev.comments = append(ev.comments, strings.TrimSpace(c))
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.retry = value
		default:
			t.Fatalf("unknown SSE field in %q", line)
		}
	}
}

// must reads the next event, which must be one (not a comment).
func (s sseReader) must(t *testing.T) sseEvent {
	t.Helper()
	for {
		ev, err := s.next(t)
		if err != nil {
			t.Fatalf("event stream ended early: %v", err)
		}
		if ev.event != "" || ev.retry != "" {
			return ev
		}
	}
}

// startSSE checks the response is an event stream and reads its retry.
func startSSE(t *testing.T, resp *http.Response) sseReader {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SSE answer: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	for h, want := range map[string]string{"Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	s := sseReader{bufio.NewReader(resp.Body)}
	if ev := s.must(t); ev.retry != "2000" || ev.event != "" {
		t.Fatalf("first block = %+v, want retry: 2000", ev)
	}
	return s
}

func TestSSEImageWatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.create(t, "trip", pb.ImageState_IMAGE_STATE_RECEIVED)
	s := startSSE(t, e.open(t, context.Background(), "/v1/images/"+id+":watch", "text/event-stream"))

	var states []pb.ImageState
	for i, next := range []pb.ImageState{pb.ImageState_IMAGE_STATE_QUEUED, pb.ImageState_IMAGE_STATE_PROCESSING, pb.ImageState_IMAGE_STATE_READY, 0} {
		ev := s.must(t)
		if ev.event != "image" || ev.id != strconv.Itoa(i+1) {
			t.Fatalf("event %d: %+v", i, ev)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(ev.data), &fields); err != nil || fields["batch_id"] != "trip" {
			t.Fatalf("event %d data %s: %v; want JSON with proto field names", i, ev.data, err)
		}
		img := &pb.Image{}
		if err := protojson.Unmarshal([]byte(ev.data), img); err != nil || img.GetId() != id {
			t.Fatalf("event %d data %s: %v", i, ev.data, err)
		}
		states = append(states, img.GetState())
		if next != 0 {
			e.move(t, id, next)
		}
	}
	want := []pb.ImageState{pb.ImageState_IMAGE_STATE_RECEIVED, pb.ImageState_IMAGE_STATE_QUEUED, pb.ImageState_IMAGE_STATE_PROCESSING, pb.ImageState_IMAGE_STATE_READY}
	if !slices.Equal(states, want) {
		t.Errorf("states %v, want %v", states, want)
	}
	if ev := s.must(t); ev.event != "end" || ev.data != "{}" {
		t.Fatalf("after READY: %+v, want event: end", ev)
	}
	if _, err := s.next(t); err != io.EOF {
		t.Fatalf("after end: %v, want the body to end", err)
	}
}

func TestSSEBatchWatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	a := e.create(t, "pair", pb.ImageState_IMAGE_STATE_QUEUED)
	b := e.create(t, "pair", pb.ImageState_IMAGE_STATE_QUEUED)
	s := startSSE(t, e.open(t, context.Background(), "/v1/batches/pair:watch", "text/event-stream"))

	read := func() (map[string]json.RawMessage, *pb.WatchBatchResponse) {
		t.Helper()
		ev := s.must(t)
		if ev.event != "batch" {
			t.Fatalf("event %+v, want batch", ev)
		}
		var raw map[string]json.RawMessage
		resp := &pb.WatchBatchResponse{}
		if json.Unmarshal([]byte(ev.data), &raw) != nil || protojson.Unmarshal([]byte(ev.data), resp) != nil {
			t.Fatalf("batch event data %s", ev.data)
		}
		return raw, resp
	}
	raw, first := read()
	if _, ok := raw["image"]; ok || first.GetBatch().GetTotal() != 2 || first.GetBatch().GetState() != pb.BatchState_BATCH_STATE_PENDING {
		t.Fatalf("first batch event %v", first)
	}
	e.move(t, a, pb.ImageState_IMAGE_STATE_READY)
	if _, m := read(); m.GetImage().GetId() != a || m.GetBatch().GetCounts()["IMAGE_STATE_READY"] != 1 {
		t.Fatalf("after a READY: %v", m)
	}
	e.move(t, b, pb.ImageState_IMAGE_STATE_FAILED)
	_, m := read()
	if m.GetImage().GetId() != b || m.GetBatch().GetState() != pb.BatchState_BATCH_STATE_PARTIALLY_FAILED {
		t.Fatalf("after b FAILED: %v", m)
	}
	if ev := s.must(t); ev.event != "end" {
		t.Fatalf("after completion: %+v", ev)
	}
}

// An error before the first event is a plain JSON error with its status.
func TestSSEErrorBeforeFirstEvent(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/v1/images/01a1ff50-8b2a-7e2e-8551-947056a03ce5:watch", "/v1/batches/nobody:watch"} {
		resp := e.open(t, context.Background(), path, "text/event-stream")
		var body gateway.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" || body.Error.Reason != apperr.ReasonNotFound {
			t.Errorf("%s: %d %s %+v", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

// The status service going away mid-stream ends the stream with an error
// event carrying the JSON error.
func TestSSEErrorAfterFirstEvent(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.create(t, "", pb.ImageState_IMAGE_STATE_QUEUED)
	s := startSSE(t, e.open(t, context.Background(), "/v1/images/"+id+":watch", "text/event-stream"))
	if ev := s.must(t); ev.event != "image" {
		t.Fatalf("first event %+v", ev)
	}
	e.srv.Stop()
	ev := s.must(t)
	var body gateway.ErrorBody
	if ev.event != "error" || json.Unmarshal([]byte(ev.data), &body) != nil || body.Error.Code != http.StatusServiceUnavailable {
		t.Fatalf("after the service stopped: %+v", ev)
	}
	if _, err := s.next(t); err != io.EOF {
		t.Fatalf("after the error event: %v, want the body to end", err)
	}
}

// Only an Accept naming text/event-stream gets SSE; others get the
// grpc-gateway stream.
func TestSSEOnlyForItsAccept(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.create(t, "", pb.ImageState_IMAGE_STATE_READY)
	cases := []struct {
		accept string
		sse    bool
	}{
		{"text/event-stream", true},
		{"application/json, text/event-stream;q=0.5", true},
		{"text/event-stream;q=0", false},
		{"*/*", false},
		{"application/json", false},
		{"", false},
	}
	for _, c := range cases {
		resp := e.open(t, context.Background(), "/v1/images/"+id+":watch", c.accept)
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		isSSE := resp.Header.Get("Content-Type") == "text/event-stream"
		if resp.StatusCode != http.StatusOK || isSSE != c.sse {
			t.Errorf("Accept %q: %d %s, want SSE %v", c.accept, resp.StatusCode, resp.Header.Get("Content-Type"), c.sse)
		}
		if !c.sse && !strings.HasPrefix(string(body), `{"result":`) {
			t.Errorf("Accept %q: body %s, want the JSON stream", c.accept, body)
		}
	}
}

// An idle stream gets keepalive comments, and a client that leaves
// cancels the gRPC stream.
func TestSSEKeepaliveAndDisconnect(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.SSEKeepalive = 20 * time.Millisecond
	e := newEnv(t, envOptions{cfg: cfg})
	id := e.create(t, "", pb.ImageState_IMAGE_STATE_QUEUED)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startSSE(t, e.open(t, ctx, "/v1/images/"+id+":watch", "text/event-stream"))
	if ev := s.must(t); ev.event != "image" {
		t.Fatalf("first event %+v", ev)
	}
	ev, err := s.next(t)
	if err != nil || !slices.Equal(ev.comments, []string{"keepalive"}) || ev.event != "" {
		t.Fatalf("idle stream sent %+v, %v; want a keepalive comment", ev, err)
	}
	select {
	case err := <-e.ended:
		t.Fatalf("watch ended before the client left: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-e.ended:
		if err == nil {
			t.Errorf("server stream ended without its context canceled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch still runs after the client left")
	}
}

// The admin routes exist when the gateway has an admin connection.
func TestAdminRoutes(t *testing.T) {
	for _, c := range []struct {
		admin bool
		code  int
	}{
		{false, http.StatusNotFound},
		{true, http.StatusNotImplemented}, // routed; AdminService implements nothing
	} {
		e := newEnv(t, envOptions{admin: c.admin})
		resp := e.open(t, context.Background(), "/v1/admin/dead-letters", "")
		if resp.StatusCode != c.code {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("admin %v: %d %s, want %d", c.admin, resp.StatusCode, b, c.code)
		}
	}
}

// /openapi.json documents the SSE variants on top of the generated watch
// operations, and the new upload parameters.
func TestOpenAPIDocumentsSSE(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp := e.open(t, context.Background(), "/openapi.json", "")
	type param struct{ Name, In string }
	var doc struct {
		Paths map[string]map[string]struct {
			Produces   []string `json:"produces"`
			Parameters []param  `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/images/{id}:watch", "/v1/batches/{id}:watch"} {
		op := doc.Paths[p]["get"]
		if !slices.Contains(op.Produces, "text/event-stream") ||
			!slices.Contains(op.Parameters, param{"id", "path"}) || !slices.Contains(op.Parameters, param{"Accept", "header"}) {
			t.Errorf("%s get = %+v", p, op)
		}
	}
	up := doc.Paths["/v1/images"]["post"]
	for _, name := range []string{"batch_size", "callback_url", "preset", "visibility"} {
		if !slices.Contains(up.Parameters, param{name, "query"}) {
			t.Errorf("upload lacks query parameter %s", name)
		}
	}
	if _, ok := doc.Paths["/v1/admin/dead-letters"]; !ok {
		t.Error("no admin routes in the document")
	}
}
