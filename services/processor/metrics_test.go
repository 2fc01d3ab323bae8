package processor_test

import (
	"context"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics move by exactly what happened: two photographs READY, a
// truncated one FAILED corrupt, a duplicate delivery of a finished image
// counted nowhere; every stage observed once per job or per variant; the
// queue gauges back to zero once the jobs are done.
func TestMetricsCountWhatHappened(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	first := r.submitImage(t, "dandelion.jpg", &pb.Image{})
	r.submitImage(t, "coffee.png", &pb.Image{})
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	r.submitBytes(t, jpeg[:len(jpeg)/2], &pb.Image{})
	for range 3 {
		r.process(t)
	}
	if _, err := jobs.Enqueue(ctx, r.rs, r.q, first.GetId()); err != nil { // a duplicate job
		t.Fatal(err)
	}
	r.process(t)
	r.wantQueueEmpty(t)

	mfs := gather(t, r.metrics)
	images := map[string]float64{}
	for _, m := range mfs["imagepipe_images_total"].GetMetric() {
		images[labels(m)] = m.GetCounter().GetValue()
	}
	want := map[string]float64{"code=,state=READY": 2, "code=corrupt,state=FAILED": 1}
	if len(images) != len(want) || images["code=,state=READY"] != 2 || images["code=corrupt,state=FAILED"] != 1 {
		t.Errorf("imagepipe_images_total = %v, want %v", images, want)
	}

	// 3 jobs fetched, 2 decoded (the truncated one fails while decoding),
	// 3 variants each rendered, encoded and stored.
	const variants = 3
	stages := map[string]uint64{}
	for _, m := range mfs["imagepipe_processing_seconds"].GetMetric() {
		h := m.GetHistogram()
		stages[labels(m)] = h.GetSampleCount()
		if h.GetSampleCount() > 0 && h.GetSampleSum() <= 0 {
			t.Errorf("stage %s: %d observations summing to %v s", labels(m), h.GetSampleCount(), h.GetSampleSum())
		}
	}
	wantStages := map[string]uint64{"stage=fetch": 4 - 1, "stage=decode": 2, "stage=render": 2 * variants, "stage=encode": 2 * variants, "stage=store": 2 * variants}
	for s, n := range wantStages {
		if stages[s] != n {
			t.Errorf("imagepipe_processing_seconds{%s} has %d observations, want %d", s, stages[s], n)
		}
	}
	if len(stages) != len(wantStages) {
		t.Errorf("stages observed: %v, want %v", stages, wantStages)
	}

	queueMessages := 0
	for _, m := range mfs["imagepipe_queue_messages"].GetMetric() {
		queueMessages++
		if v := m.GetGauge().GetValue(); v != 0 {
			t.Errorf("imagepipe_queue_messages{%s} = %v, want 0 once every job is done", labels(m), v)
		}
	}
	if queueMessages != 6 { // 3 kinds, jobs and jobs_dlq
		t.Errorf("%d imagepipe_queue_messages series, want 3 kinds of jobs and jobs_dlq", queueMessages)
	}
	for _, m := range mfs["imagepipe_queue_oldest_age_seconds"].GetMetric() {
		if v := m.GetGauge().GetValue(); v != 0 {
			t.Errorf("imagepipe_queue_oldest_age_seconds{%s} = %v, want 0 for an empty queue", labels(m), v)
		}
	}
	gauge := func(name string) float64 { return mfs[name].GetMetric()[0].GetGauge().GetValue() }
	if n := gauge("imagepipe_processor_jobs_in_flight"); n != 0 {
		t.Errorf("jobs in flight = %v after the jobs, want 0", n)
	}
	if n := gauge("imagepipe_processor_workers"); n != float64(r.cfg.Workers) {
		t.Errorf("workers = %v, want %d", n, r.cfg.Workers)
	}
	if n := gauge("imagepipe_vips_memory_highwater_bytes"); n < 1600*900*3 {
		t.Errorf("libvips' high-water mark %v bytes, want at least the decoded 1600x900 photograph", n)
	}
	for _, name := range []string{"imagepipe_vips_memory_bytes", "imagepipe_vips_allocations", "imagepipe_vips_open_files", "imagepipe_vips_operations_in_flight"} {
		if len(mfs[name].GetMetric()) != 1 {
			t.Errorf("no %s", name)
		}
	}
}

// gather returns the registry's metric families by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// labels renders a metric's labels as "name=value,…" (sorted by name, as
// the registry keeps them).
func labels(m *dto.Metric) string {
	s := ""
	for i, l := range m.GetLabel() {
		if i > 0 {
			s += ","
		}
		s += l.GetName() + "=" + l.GetValue()
	}
	return s
}
