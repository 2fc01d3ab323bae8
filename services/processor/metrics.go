package processor

import (
	"slices"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// Stages of imagepipe_processing_seconds: fetch (open the original: a
// direct upload's admission, a remote store's copy to a temporary file),
// decode (probe and decode, once per job), render and encode (once per
// variant: libvips evaluates lazily, so encode includes computing the
// variant's pixels), store (one variant's write).
const (
	stageFetch  = "fetch"
	stageDecode = "decode"
	stageRender = "render"
	stageEncode = "encode"
	stageStore  = "store"
)

// queueStatsTimeout bounds reading the job queue's counts at a scrape.
const queueStatsTimeout = 2 * time.Second

// metrics are the processor's Prometheus metrics. They always exist (an
// update costs a few atomic adds); register exports them.
type metrics struct {
	seconds  *prometheus.HistogramVec
	images   *prometheus.CounterVec
	inFlight prometheus.Gauge
	workers  prometheus.Gauge
}

func newMetrics(workers int) *metrics {
	m := &metrics{
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imagepipe_processing_seconds",
			Help: "Time of each processing stage: fetch, decode (per job), render, encode, store (per variant).",
			// 1 ms .. ~33 s: a thumbnail's encode to a large AVIF's.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"stage"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imagepipe_images_total",
			Help: "Images that reached a terminal state, counted once each: READY, or FAILED by failure code.",
		}, []string{"state", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imagepipe_processor_jobs_in_flight",
			Help: "Jobs the processor's workers are running now.",
		}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imagepipe_processor_workers",
			Help: "Jobs the processor runs at once at most (processor.workers).",
		}),
	}
	m.workers.Set(float64(workers))
	return m
}

// register exports the processor's metrics, the job queue's counts (the
// processor is the queue's consumer: one target reports it) and libvips'
// memory to r; nil registers nothing. The queue collector is returned to
// be closed when the processor stops.
func (m *metrics) register(r prometheus.Registerer, q queue.Queue) (*queue.Collector, error) {
	if r == nil {
		return nil, nil
	}
	qc := queue.NewCollector("jobs", q, queueStatsTimeout)
	for _, c := range append([]prometheus.Collector{m.seconds, m.images, m.inFlight, m.workers, qc}, vipsCollectors()...) {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return qc, nil
}

// vipsCollectors read libvips' counters at scrape time.
func vipsCollectors() []prometheus.Collector {
	gauge := func(name, help string, read func(imaging.MemStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(read(imaging.ReadMemStats())) })
	}
	return []prometheus.Collector{
		gauge("imagepipe_vips_memory_bytes", "Memory libvips has allocated for pixels and buffers now (vips_tracked_get_mem).",
			func(s imaging.MemStats) int64 { return s.Mem }),
		gauge("imagepipe_vips_memory_highwater_bytes", "Most memory libvips has had allocated at once since the process started.",
			func(s imaging.MemStats) int64 { return s.MemHighwater }),
		gauge("imagepipe_vips_allocations", "Allocations libvips holds open now (vips_tracked_get_allocs).",
			func(s imaging.MemStats) int64 { return s.Allocs }),
		gauge("imagepipe_vips_open_files", "Files libvips holds open now (vips_tracked_get_files).",
			func(s imaging.MemStats) int64 { return s.Files }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imagepipe_vips_operations_in_flight",
			Help: "Images libvips is processing now (imaging pipelines running)."},
			func() float64 { return float64(imaging.Active()) }),
	}
}

// observe records one stage's duration.
func (m *metrics) observe(stage string, d time.Duration) {
	m.seconds.WithLabelValues(stage).Observe(d.Seconds())
}

// observeResult records the decode and each variant's render and encode.
func (m *metrics) observeResult(res *imaging.Result) {
	m.observe(stageDecode, res.Decode)
	for _, v := range res.Variants {
		m.observe(stageRender, v.Elapsed-v.Encode)
		m.observe(stageEncode, v.Encode)
	}
}

// ready counts a move to READY.
func (m *metrics) ready() { m.images.WithLabelValues("READY", "").Inc() }

// failed counts a move to FAILED; a code outside package failure's list
// (none should be) counts as "other", so the label stays bounded.
func (m *metrics) failed(code string) {
	if !slices.Contains(failure.All, code) {
		code = "other"
	}
	m.images.WithLabelValues("FAILED", code).Inc()
}
