package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/promtest"
	"github.com/imagepipe/imagepipe/internal/testkit/spantest"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Uploads through the all-in-one server move the upload, gRPC and HTTP
// counters by exactly what happened; /metrics needs no credentials.
func TestMetricsCountUploads(t *testing.T) {
	s := start(t, testConfig(t.TempDir()))
	photos := []struct{ name, contentType string }{{"dandelion.jpg", "image/jpeg"}, {"coffee.png", "image/png"}}
	var accepted float64
	for _, p := range photos {
		src := imagetest.Fixture(t, p.name)
		accepted += float64(len(src))
		if r := s.post(t, "/v1/images?wait=30s", p.contentType, bytes.NewReader(src)); r.code != http.StatusOK {
			t.Fatalf("upload %s: %d %s", p.name, r.code, r.body)
		}
	}
	if r := s.post(t, "/v1/images", "application/octet-stream", strings.NewReader("plain text, not an image")); r.code != http.StatusUnsupportedMediaType {
		t.Fatalf("upload of text: %d %s", r.code, r.body)
	}
	m := promtest.Scrape(t, s.Base+"/metrics")
	upload := map[string]string{"grpc_service": "imagepipe.v1.IngestService", "grpc_method": "Upload"}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for bk, bv := range base {
			out[bk] = bv
		}
		return out
	}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"imagepipe_uploads_total", map[string]string{"outcome": "ok"}, 2},
		{"imagepipe_uploads_total", map[string]string{"outcome": "unsupported"}, 1},
		{"imagepipe_uploads_total", nil, 3},
		{"imagepipe_upload_bytes_total", nil, accepted},
		{"grpc_server_handled_total", with(upload, "grpc_code", "OK"), 2},
		{"grpc_server_handled_total", with(upload, "grpc_code", "InvalidArgument"), 1},
		{"grpc_server_handling_seconds", upload, 3},
		{"grpc_client_handled_total", with(upload, "grpc_code", "OK"), 2},
		{"grpc_client_handling_seconds", upload, 3},
		{"imagepipe_http_requests_total", map[string]string{"route": "/v1/images", "code": "200"}, 2},
		{"imagepipe_http_requests_total", map[string]string{"route": "/v1/images", "code": "415"}, 1},
		{"imagepipe_http_request_duration_seconds", map[string]string{"route": "/v1/images"}, 3},
		{"imagepipe_build_info", nil, 1},
	}
	for _, c := range cases {
		if got, _ := m.Value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The methods not called have their series, at zero.
	if _, ok := m.Value("grpc_server_handled_total", map[string]string{"grpc_method": "GetImage", "grpc_code": "OK"}); !ok {
		t.Error("no grpc_server_handled_total series for StatusService.GetImage")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := m.Value(name, nil); !ok {
			t.Errorf("no %s", name)
		}
	}
	if m.Label("imagepipe_build_info", "libvips") == "" {
		t.Error("imagepipe_build_info has no libvips version")
	}
	// A path that matches no route is counted as "other", not by its path.
	s.get(t, "/no/such/path/12345")
	m = promtest.Scrape(t, s.Base+"/metrics")
	if got, _ := m.Value("imagepipe_http_requests_total", map[string]string{"route": "other", "code": "404"}); got != 1 {
		t.Errorf("unmatched path counted %v times as route other", got)
	}
	for _, series := range m["imagepipe_http_requests_total"].GetMetric() {
		for _, l := range series.GetLabel() {
			if strings.Contains(l.GetValue(), "12345") {
				t.Errorf("a label carries the path: %v", series)
			}
		}
	}
}

// One REST upload is one trace: the gateway's span, its gRPC client span
// and ingest's server span, each the parent of the next, continuing the
// trace the client sent; the log lines written in it carry its ids.
func TestUploadIsOneTrace(t *testing.T) {
	spans := spantest.Install(t)
	s := start(t, testConfig(t.TempDir())) // after Install: it takes the provider
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, s.Base+"/v1/images?wait=0", bytes.NewReader(imagetest.Fixture(t, "coffee.png")))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	if r := s.do(t, req); r.code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	const (
		gatewaySpan = "POST /v1/images"
		uploadSpan  = "imagepipe.v1.IngestService/Upload"
	)
	var gw, client, server tracetest.SpanStub
	deadline := time.Now().Add(5 * time.Second)
	for {
		gw, client, server = tracetest.SpanStub{}, tracetest.SpanStub{}, tracetest.SpanStub{}
		for _, sp := range spans.GetSpans() {
			if sp.SpanContext.TraceID().String() != clientTrace {
				continue
			}
			switch {
			case sp.Name == gatewaySpan && sp.SpanKind == oteltrace.SpanKindServer:
				gw = sp
			case sp.Name == uploadSpan && sp.SpanKind == oteltrace.SpanKindClient:
				client = sp
			case sp.Name == uploadSpan && sp.SpanKind == oteltrace.SpanKindServer:
				server = sp
			}
		}
		if gw.Name != "" && client.Name != "" && server.Name != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if gw.Name == "" || client.Name == "" || server.Name == "" {
		var names []string
		for _, sp := range spans.GetSpans() {
			names = append(names, sp.Name+"@"+sp.SpanContext.TraceID().String())
		}
		t.Fatalf("spans of trace %s: gateway %q, client %q, ingest %q; all spans: %v", clientTrace, gw.Name, client.Name, server.Name, names)
	}
	links := []struct {
		child, parent tracetest.SpanStub
	}{{gw, tracetest.SpanStub{}}, {client, gw}, {server, client}}
	if got := gw.Parent.SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("gateway span's parent %s, want the client's span", got)
	}
	for _, l := range links[1:] {
		if l.child.Parent.SpanID() != l.parent.SpanContext.SpanID() {
			t.Errorf("%s (%s) is not the child of %s (%s)", l.child.Name, l.child.SpanKind, l.parent.Name, l.parent.SpanKind)
		}
	}
	if route := attr(gw, "http.route"); route != "/v1/images" {
		t.Errorf("gateway span's http.route %q", route)
	}
	checkLogsCarryTrace(t, s.Logs.String(), clientTrace)
}

// checkLogsCarryTrace finds a log line of the trace, with its span id.
func checkLogsCarryTrace(t *testing.T, logs, traceID string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			TraceID string `json:"trace_id"`
			SpanID  string `json:"span_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.TraceID == traceID && len(l.SpanID) == 16 {
			return
		}
	}
	t.Errorf("no log line carries trace_id %s and a span_id:\n%s", traceID, logs)
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}
