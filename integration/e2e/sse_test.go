package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/protobuf/encoding/protojson"
)

// sseEvent is one event of a text/event-stream body.
type sseEvent struct{ id, name, data string }

// sseStream GETs path with Accept: text/event-stream and returns the
// events as they arrive; the channel closes at the end of the body. Ending
// the test closes the request.
func sseStream(t *testing.T, s *server, path string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	events := make(chan sseEvent, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev.name != "" {
					ev.data = strings.Join(data, "\n")
					events <- ev
				}
				ev, data = sseEvent{}, nil
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.name = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	return events, resp
}

// nextEvent waits for the next event; ok is false when the stream ended.
func nextEvent(t *testing.T, events <-chan sseEvent) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-events:
		return ev, ok
	case <-time.After(30 * time.Second):
		t.Fatal("no server-sent event within 30s")
		return sseEvent{}, false
	}
}

// stateRank orders image states the way they may move.
func stateRank(s pb.ImageState) int {
	switch s {
	case pb.ImageState_IMAGE_STATE_AWAITING_UPLOAD:
		return 0
	case pb.ImageState_IMAGE_STATE_READY, pb.ImageState_IMAGE_STATE_FAILED:
		return 4
	}
	return int(s)
}

// checkForward fails unless states only move forward (PROCESSING may repeat).
func checkForward(t *testing.T, what string, states []pb.ImageState) {
	t.Helper()
	for i := 1; i < len(states); i++ {
		prev, cur := states[i-1], states[i]
		if stateRank(cur) < stateRank(prev) || (cur == prev && cur != pb.ImageState_IMAGE_STATE_PROCESSING) {
			t.Errorf("%s went %v: not moving forward", what, states)
		}
	}
}

// An upload watched over SSE streams its states in order, ending READY and
// then "end".
func TestSSEImageWatchOfAnUpload(t *testing.T) {
	s := sharedServer(t)
	r := s.post(t, "/v1/images?wait=0", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	id := r.image(t).GetId()
	events, resp := sseStream(t, s, "/v1/images/"+id+":watch")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("watch: %d %v", resp.StatusCode, resp.Header)
	}
	var states []pb.ImageState
	for n := 1; ; n++ {
		ev, ok := nextEvent(t, events)
		if !ok {
			t.Fatalf("stream ended without event: end after %v", states)
		}
		if ev.name == "end" {
			break
		}
		if ev.name != "image" || ev.id != strconv.Itoa(n) {
			t.Fatalf("event %d: %+v", n, ev)
		}
		img := &pb.Image{}
		if err := protojson.Unmarshal([]byte(ev.data), img); err != nil || img.GetId() != id {
			t.Fatalf("event data %s: %v", ev.data, err)
		}
		states = append(states, img.GetState())
	}
	if len(states) == 0 || states[len(states)-1] != pb.ImageState_IMAGE_STATE_READY {
		t.Fatalf("states %v, want them to end READY", states)
	}
	t.Logf("image %s streamed %v", id, states)
	checkForward(t, "image "+id, states)
	if _, ok := nextEvent(t, events); ok {
		t.Error("events after end")
	}
}

// A batch of three (batch_size=3) uploaded as two files and then one stays
// open while it holds two, and ends READY with every count right.
func TestSSEBatchWatchWaitsForBatchSize(t *testing.T) {
	s := sharedServer(t)
	batch := "sse-" + strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
	body, ct := multipartBody(t, map[string][]byte{
		"a.jpg": imagetest.Fixture(t, "orient-1.jpg"),
		"b.jpg": imagetest.Fixture(t, "grey.jpg"),
	})
	if r := s.post(t, "/v1/images?batch_size=3&batch_id="+batch, ct, body); r.code != http.StatusAccepted {
		t.Fatalf("batch upload: %d %s", r.code, r.body)
	}
	events, resp := sseStream(t, s, "/v1/batches/"+batch+":watch")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	read := func() (*pb.WatchBatchResponse, bool) {
		t.Helper()
		ev, ok := nextEvent(t, events)
		if !ok {
			t.Fatal("batch stream ended without event: end")
		}
		if ev.name == "end" {
			return nil, false
		}
		m := &pb.WatchBatchResponse{}
		if ev.name != "batch" || protojson.Unmarshal([]byte(ev.data), m) != nil {
			t.Fatalf("event %+v", ev)
		}
		return m, true
	}
	perImage := map[string][]pb.ImageState{}
	first, _ := read()
	if first.GetImage() != nil || first.GetBatch().GetExpected() != 3 || first.GetBatch().GetTotal() != 2 {
		t.Fatalf("first event %v", first)
	}
	// Until both are READY, and after: the batch holds 2 of 3, so PENDING.
	last := first
	for last.GetBatch().GetCounts()["IMAGE_STATE_READY"] < 2 {
		m, ok := read()
		if !ok {
			t.Fatalf("stream ended with 2 of 3 images: %v", last)
		}
		perImage[m.GetImage().GetId()] = append(perImage[m.GetImage().GetId()], m.GetImage().GetState())
		last = m
	}
	if last.GetBatch().GetState() != pb.BatchState_BATCH_STATE_PENDING {
		t.Fatalf("2 of 3 READY: batch %v", last.GetBatch())
	}
	r := s.post(t, "/v1/images?wait=0&batch_size=3&batch_id="+batch, "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "orient-2.jpg")))
	if r.code != http.StatusAccepted && r.code != http.StatusOK {
		t.Fatalf("third upload: %d %s", r.code, r.body)
	}
	third := r.image(t).GetId()
	for {
		m, ok := read()
		if !ok {
			break
		}
		perImage[m.GetImage().GetId()] = append(perImage[m.GetImage().GetId()], m.GetImage().GetState())
		last = m
	}
	b := last.GetBatch()
	if last.GetImage().GetId() != third || b.GetState() != pb.BatchState_BATCH_STATE_READY || b.GetTotal() != 3 ||
		b.GetCounts()["IMAGE_STATE_READY"] != 3 || len(b.GetCounts()) != 1 || b.GetExpected() != 3 {
		t.Fatalf("last event %v, want the third image completing a READY batch of 3", last)
	}
	if len(perImage) != 3 {
		t.Errorf("events for %d images, want 3", len(perImage))
	}
	for id, states := range perImage {
		t.Logf("image %s streamed %v", id, states)
		checkForward(t, "image "+id, states)
		if !records.Terminal(states[len(states)-1]) {
			t.Errorf("image %s ended %v", id, states)
		}
	}
}

// A watch of an unknown batch over SSE is the plain JSON 404; a bad
// batch_size on upload is refused naming it.
func TestSSEErrors(t *testing.T) {
	s := sharedServer(t)
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/v1/batches/no-such-batch:watch", nil)
	req.Header.Set("Accept", "text/event-stream")
	r := s.do(t, req)
	if e := r.errorBody(t); r.code != http.StatusNotFound || e.Error.Reason != "NOT_FOUND" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("unknown batch: %d %s", r.code, r.body)
	}
	r = s.post(t, "/v1/images?batch_id=x&batch_size=lots", "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "grey.jpg")))
	if e := r.errorBody(t); r.code != http.StatusBadRequest || e.Error.Field != "batch_size" {
		t.Errorf("batch_size=lots: %d %s", r.code, r.body)
	}
}
