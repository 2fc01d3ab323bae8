package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/spantest"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// The spans one upload makes, by name.
const (
	gatewaySpanName = "POST /v1/images"
	uploadSpanName  = "imagepipe.v1.IngestService/Upload"
	processSpanName = "process"
	deliverSpanName = "webhook.deliver"
)

// stageSpans are the process span's children.
var stageSpans = []string{"fetch", "decode", "render", "encode", "store"}

// upload names the spans of an upload's trace.
var upload = map[string]bool{gatewaySpanName: true, uploadSpanName: true, processSpanName: true,
	"fetch": true, "decode": true, "render": true, "encode": true, "store": true}

// One REST upload is one trace, whether the targets run in one process
// or as the four separate targets talking gRPC on loopback over one data
// dir: the gateway's HTTP span (child of the client's traceparent), its
// gRPC client span and ingest's server span, each the parent of the
// next; the processor's process span, across the queue, a child of the
// span that queued the job; and fetch, decode, render, encode and store
// under process. The webhook delivery is a trace of its own, linked to
// the process span that announced the image.
func TestOneUploadIsOneTraceAcrossTargets(t *testing.T) {
	for _, split := range []bool{false, true} {
		name := "all"
		if split {
			name = "split"
		}
		t.Run(name, func(t *testing.T) {
			spans := spantest.Install(t) // before the Apps: they take the provider
			rcv := newReceiver(t, secretNew, 0)
			const token = "receiver-token-123"
			s, ingestAddr := startTargets(t, split, rcv.URL+"/hook?token="+token)

			const clientTrace, clientSpan = "5c6f8ab2e4d17a9302be1f44c0d6e871", "0a1b2c3d4e5f6071"
			req, _ := http.NewRequest(http.MethodPost, s.Base+"/v1/images?wait=30s", bytes.NewReader(imagetest.Fixture(t, "dandelion.jpg")))
			req.Header.Set("Content-Type", "image/jpeg")
			req.Header.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
			r := s.do(t, req)
			if r.code != http.StatusOK || r.image(t).GetState() != pb.ImageState_IMAGE_STATE_READY {
				t.Fatalf("upload: %d %s", r.code, r.body)
			}
			variants := len(r.image(t).GetVariants())
			if got := rcv.accepted(t, 1, 30*time.Second); len(got) != 1 {
				t.Fatalf("receiver accepted %d deliveries, want 1", len(got))
			}
			all := waitSpans(t, spans, variants)
			client := checkUploadTrace(t, all, clientTrace, clientSpan, variants)
			// The gateway's call went to the ingest target's listener; in
			// one process, to that process's own local socket.
			got := attr(client, "server.address") + ":" + attr(client, "server.port")
			if !split && strings.HasPrefix(got, "@imagepipe-") {
				got = ingestAddr
			}
			if got != ingestAddr {
				t.Errorf("gateway's Upload call went to %s, want ingest at %s (split: %v)", got, ingestAddr, split)
			}
			for _, sp := range all {
				for _, kv := range sp.Attributes {
					if strings.Contains(kv.Value.Emit(), token) {
						t.Errorf("span %s attribute %s carries the webhook URL's query", sp.Name, kv.Key)
					}
				}
			}
		})
	}
}

// startTargets runs target all, or the four targets as separate Apps on
// one data dir, with webhooks to hook; it returns the one serving HTTP
// and the gRPC address of the one serving IngestService.
func startTargets(t *testing.T, split bool, hook string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	cfgFor := func(target string) app.Config {
		c := webhookConfig(dir, hook)
		c.Target = target
		return c
	}
	if !split {
		s := start(t, cfgFor(app.TargetAll))
		return s, s.App.GRPCAddr()
	}
	status := start(t, cfgFor(app.TargetStatus))
	ingest := start(t, cfgFor(app.TargetIngest))
	proc := start(t, cfgFor(app.TargetProcessor))
	gw := cfgFor(app.TargetGateway)
	gw.StatusAddr, gw.IngestAddr, gw.ProcessorAddr = status.App.GRPCAddr(), ingest.App.GRPCAddr(), proc.App.GRPCAddr()
	return start(t, gw), ingest.App.GRPCAddr()
}

// waitSpans waits until the processing (process, its stages for variants
// variants) and the webhook delivery have ended, and returns every span.
func waitSpans(t *testing.T, spans *tracetest.InMemoryExporter, variants int) tracetest.SpanStubs {
	t.Helper()
	want := map[string]int{processSpanName: 1, deliverSpanName: 1, "fetch": 1, "decode": 1,
		"render": variants, "encode": variants, "store": variants}
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := spans.GetSpans()
		got := map[string]int{}
		for _, sp := range all {
			got[sp.Name]++
		}
		done := true
		for name, n := range want {
			done = done && got[name] >= n
		}
		if done {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans by name %v, want at least %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkUploadTrace asserts the parent links of one upload's spans, by
// span id, and returns the gateway's gRPC client span.
func checkUploadTrace(t *testing.T, all tracetest.SpanStubs, clientTrace, clientSpan string, variants int) tracetest.SpanStub {
	t.Helper()
	byID := map[oteltrace.SpanID]tracetest.SpanStub{}
	named := map[string][]tracetest.SpanStub{}
	for _, sp := range all {
		byID[sp.SpanContext.SpanID()] = sp
		named[sp.Name+"/"+sp.SpanKind.String()] = append(named[sp.Name+"/"+sp.SpanKind.String()], sp)
	}
	one := func(name string, kind oteltrace.SpanKind) tracetest.SpanStub {
		t.Helper()
		got := named[name+"/"+kind.String()]
		if len(got) != 1 {
			t.Fatalf("%d %s spans named %q, want 1 (spans: %s)", len(got), kind, name, describe(all))
		}
		return got[0]
	}
	gw := one(gatewaySpanName, oteltrace.SpanKindServer)
	client := one(uploadSpanName, oteltrace.SpanKindClient)
	server := one(uploadSpanName, oteltrace.SpanKindServer)
	process := one(processSpanName, oteltrace.SpanKindConsumer)
	deliver := one(deliverSpanName, oteltrace.SpanKindClient)

	// One trace: every span of the upload in the client's trace (the
	// servers' health checks are traces of their own).
	for _, sp := range all {
		if upload[sp.Name] && sp.SpanContext.TraceID().String() != clientTrace {
			t.Errorf("span %s (%s) in trace %s, want %s", sp.Name, sp.SpanKind, sp.SpanContext.TraceID(), clientTrace)
		}
	}
	if got := gw.Parent.SpanID().String(); got != clientSpan || !gw.Parent.IsRemote() {
		t.Errorf("gateway span's parent %s, want the client's remote span %s", got, clientSpan)
	}
	// A streamed upload records no event per chunk.
	for _, sp := range []tracetest.SpanStub{gw, client, server, process} {
		if len(sp.Events) != 0 {
			t.Errorf("%s (%s) has %d events, want none", sp.Name, sp.SpanKind, len(sp.Events))
		}
	}
	parentOf := []struct{ child, parent tracetest.SpanStub }{{client, gw}, {server, client}}
	for _, l := range parentOf {
		if l.child.Parent.SpanID() != l.parent.SpanContext.SpanID() {
			t.Errorf("%s (%s) is not the child of %s (%s)", l.child.Name, l.child.SpanKind, l.parent.Name, l.parent.SpanKind)
		}
	}
	// Across the queue: the job's span context came in its message
	// (remote), and it is ingest's server span or one under it.
	if !process.Parent.IsRemote() || !descends(byID, process.Parent.SpanID(), server.SpanContext.SpanID()) {
		t.Errorf("process span's parent %s (remote %v) is not ingest's upload span %s or under it",
			process.Parent.SpanID(), process.Parent.IsRemote(), server.SpanContext.SpanID())
	}
	stages := map[string]int{}
	for _, sp := range all {
		if sp.Parent.SpanID() == process.SpanContext.SpanID() {
			stages[sp.Name]++
		}
	}
	want := map[string]int{"fetch": 1, "decode": 1, "render": variants, "encode": variants, "store": variants}
	for _, name := range stageSpans {
		if stages[name] != want[name] {
			t.Errorf("process has %d %s children, want %d (children: %v)", stages[name], name, want[name], stages)
		}
	}
	// The delivery: its own trace, linked to the span that announced the
	// image (process).
	if deliver.Parent.IsValid() || len(deliver.Links) != 1 ||
		deliver.Links[0].SpanContext.TraceID().String() != clientTrace ||
		deliver.Links[0].SpanContext.SpanID() != process.SpanContext.SpanID() {
		t.Errorf("webhook.deliver: parent %v, links %v; want a root linked to process %s of trace %s",
			deliver.Parent, deliver.Links, process.SpanContext.SpanID(), clientTrace)
	}
	if code, outcome := attr(deliver, "http.response.status_code"), attr(deliver, "imagepipe.webhook.outcome"); code != "200" || outcome != "delivered" {
		t.Errorf("webhook.deliver: status code %q, outcome %q; want 200, delivered", code, outcome)
	}
	return client
}

// descends reports whether span id is ancestor or one of its
// descendants, following parent links among the recorded spans.
func descends(byID map[oteltrace.SpanID]tracetest.SpanStub, id, ancestor oteltrace.SpanID) bool {
	for range len(byID) + 1 {
		if id == ancestor {
			return true
		}
		sp, ok := byID[id]
		if !ok {
			return false
		}
		id = sp.Parent.SpanID()
	}
	return false
}

// describe lists spans for a failure message: name, kind, trace, span and
// parent ids.
func describe(all tracetest.SpanStubs) string {
	var b strings.Builder
	for _, sp := range all {
		fmt.Fprintf(&b, "\n  %s (%s) trace %s span %s parent %s", sp.Name, sp.SpanKind, sp.SpanContext.TraceID(), sp.SpanContext.SpanID(), sp.Parent.SpanID())
	}
	return b.String()
}
