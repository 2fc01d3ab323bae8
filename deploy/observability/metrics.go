// Package observability holds what operators deploy beside imagepipe: the
// Grafana dashboard, the Prometheus configuration and alerting rules (in
// the folders beside this file), and the one list of metric names they may
// use. The package's test checks every PromQL expression in them against
// that list, so a renamed metric fails `go test` instead of leaving a blank
// panel or an alert that can never fire.
package observability

// Type is a Prometheus metric type.
type Type string

// The metric types the list uses.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Metric is one metric family a target exposes (or Prometheus makes).
type Metric struct {
	Name   string
	Type   Type
	Labels []string // the labels it adds besides job and instance
	Source string   // who exposes it
}

// Values lists, for the labels whose values queries name, the values they
// may name: every value for a bounded label (queue, kind, stage, state,
// the failure codes, the gRPC codes), and the success value for outcome,
// the one value the error ratios depend on.
var Values = map[string][]string{
	"queue":     {"jobs", "jobs_dlq", "events", "events_dlq"},
	"kind":      {"visible", "in_flight", "delayed"},
	"stage":     {"fetch", "decode", "render", "encode", "store"},
	"state":     {"READY", "FAILED"},
	"outcome":   {"ok", "delivered"}, // uploads_total: ok; webhook_deliveries_total: delivered
	"job":       {"gateway", "ingest", "processor", "status"},
	"grpc_type": {"unary", "client_stream", "server_stream", "bidi_stream"},
	// code (failure codes of imagepipe_images_total) and grpc_code come
	// from internal/messages/failure and google.golang.org/grpc/codes in
	// the test; code of imagepipe_http_requests_total is a status number.
}

// Metrics lists every metric the dashboard and the rules may name. A
// histogram's PromQL series are its name with _bucket, _sum and _count.
var Metrics = []Metric{
	// gRPC, from the go-grpc-middleware Prometheus provider (handling-time
	// histograms enabled), on every gRPC server and the gateway's clients.
	{"grpc_server_handled_total", Counter, []string{"grpc_service", "grpc_method", "grpc_code", "grpc_type"}, "every gRPC server"},
	{"grpc_server_handling_seconds", Histogram, []string{"grpc_service", "grpc_method", "grpc_type"}, "every gRPC server"},
	{"grpc_client_handled_total", Counter, []string{"grpc_service", "grpc_method", "grpc_code", "grpc_type"}, "gRPC clients (gateway)"},
	{"grpc_client_handling_seconds", Histogram, []string{"grpc_service", "grpc_method", "grpc_type"}, "gRPC clients (gateway)"},

	// HTTP: the gateway. route is the route pattern, never the path.
	{"imagepipe_http_requests_total", Counter, []string{"route", "code"}, "gateway"},
	{"imagepipe_http_request_duration_seconds", Histogram, []string{"route"}, "gateway"},

	// Uploads: ingest. outcome "ok" is a stored upload; any other value
	// names why it was refused.
	{"imagepipe_uploads_total", Counter, []string{"outcome"}, "ingest"},
	{"imagepipe_upload_bytes_total", Counter, nil, "ingest"},
	// Bytes the gateway's tus handler took in (resumable uploads), resent
	// bytes included: against imagepipe_upload_bytes_total, what resuming
	// costs.
	{"imagepipe_tus_received_bytes_total", Counter, nil, "gateway"},

	// Processing: the processor. state READY or FAILED; code is the failure
	// code (internal/messages/failure) of a FAILED image, empty for READY.
	{"imagepipe_images_total", Counter, []string{"state", "code"}, "processor"},
	{"imagepipe_processing_seconds", Histogram, []string{"stage"}, "processor"},

	// Queues: whoever consumes or administers them (several targets may
	// report the same queue, so queries take the max by queue). queue is
	// jobs, jobs_dlq, events or events_dlq; kind is visible, in_flight or
	// delayed.
	{"imagepipe_queue_messages", Gauge, []string{"queue", "kind"}, "processor, status"},
	{"imagepipe_queue_oldest_age_seconds", Gauge, []string{"queue"}, "processor, status"},

	// Webhooks: the dispatcher (status target). outcome "delivered" is a
	// 2xx answer; any other value is a failed or abandoned attempt.
	{"imagepipe_webhook_deliveries_total", Counter, []string{"outcome"}, "status (webhooks)"},

	// libvips' own memory accounting (vips_tracked_*), where libvips runs.
	{"imagepipe_vips_memory_bytes", Gauge, nil, "processor"},
	{"imagepipe_vips_memory_highwater_bytes", Gauge, nil, "processor"},
	{"imagepipe_vips_allocations", Gauge, nil, "processor"},

	// Every target.
	{"imagepipe_build_info", Gauge, []string{"version", "libvips"}, "every target"},
	{"process_resident_memory_bytes", Gauge, nil, "every target (process collector)"},
	{"go_goroutines", Gauge, nil, "every target (Go collector)"},
	{"go_memstats_heap_inuse_bytes", Gauge, nil, "every target (Go collector)"},

	// Made by Prometheus for every scrape.
	{"up", Gauge, nil, "Prometheus"},
}
