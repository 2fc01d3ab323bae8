package capacity_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// TestRequestsPerImage counts, on S3, SQS and DynamoDB, what the system
// sends at start, idle, per image uploaded alone, in a batch and with a
// wait for READY, per status read and per variant view (a fresh GET and a
// revalidation), with webhooks off and on, and checks the counts against
// bounds.
func TestRequestsPerImage(t *testing.T) {
	var report strings.Builder
	if dir := os.Getenv(CorpusEnv); dir != "" {
		fmt.Fprintf(&report, "Uploads: the %d files of %s (%s).\n\n", len(photos(t)), filepath.Base(dir), CorpusEnv)
	}
	for _, c := range []struct {
		name     string
		webhooks bool
	}{
		{"webhooks off", false},
		{"webhooks on", true},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			s, startup := start(t, c.webhooks)
			n := len(photos(t))
			phases := []phase{{name: "start", per: 1, counts: startup}}
			idle := s.measure(t, "idle", 1, func() { time.Sleep(idleFor) })
			phases = append(phases, idle)
			var single []uploaded
			phases = append(phases, s.measure(t, "upload", n, func() { single = s.upload(t, "", 0) }))
			phases = append(phases, s.measure(t, "upload in a batch", n, func() { s.upload(t, "capacity-batch", 0) }))
			var waited time.Duration
			phases = append(phases, s.measure(t, "upload, wait=60s", n, func() { waited = timed(func() { s.upload(t, "", time.Minute) }) }))
			id := single[0].img.GetId()
			phases = append(phases, s.measure(t, "status read", views, func() { s.get(t, "/v1/images/"+id, "", views, 200) }))
			var etag string
			phases = append(phases, s.measure(t, "variant GET", views, func() { etag = s.get(t, "/a/"+id+"/medium", "", views, 200) }))
			phases = append(phases, s.measure(t, "variant GET, 304", views, func() { s.get(t, "/a/"+id+"/medium", etag, views, 304) }))
			writeTable(&report, c.name, s, phases)
			fmt.Fprintf(&report, "The uploads with wait=60s took %.2f s each on average (answered at READY).\n\n", waited.Seconds()/float64(n))
			checkIdle(t, s, idle)
			for _, p := range phases[2:] {
				checkBounds(t, p, bounds(p.name, c.webhooks))
			}
			if !c.webhooks {
				writeBytes(&report, single)
			}
		})
	}
	t.Log("\n" + report.String())
	if out := os.Getenv(OutEnv); out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func timed(f func()) time.Duration {
	began := time.Now()
	f()
	return time.Since(began)
}

// span is the least and the most of a request per image or per read.
type span struct{ lo, hi float64 }

// bounds are the requests phase may send per image or per read, by label;
// any other label but background ones fails the test. The DynamoDB counts
// of a batch are dynalite's: without transactions every write of a
// batched image also reads and conditionally puts the batch's counter and
// puts a change item, retried while the other writers of the batch win
// the counter (dynamorecords' counter.go), so they are bounded loosely.
func bounds(phase string, webhooks bool) map[string]span {
	var b map[string]span
	switch phase {
	case "status read":
		return map[string]span{"DynamoDB GetItem images": {1, 1}, "DynamoDB GetItem images-tenants": {1, 1}}
	case "variant GET", "variant GET, 304":
		return map[string]span{"S3 GetObject variants": {1, 1}}
	case "upload", "upload, wait=60s":
		b = map[string]span{
			"DynamoDB GetItem images":                   {3, 4.5},
			"DynamoDB PutItem images":                   {1, 1},
			"DynamoDB UpdateItem images":                {2.5, 3},
			"DynamoDB UpdateItem images (HTTP 4xx/5xx)": {0, 1},
		}
		if phase == "upload, wait=60s" {
			// The wait watches the record, a GetItem every 100 ms or so,
			// for as long as processing takes.
			b["DynamoDB GetItem images"] = span{3, 60}
		}
	case "upload in a batch":
		b = map[string]span{
			"DynamoDB GetItem images":                           {8, 25},
			"DynamoDB PutItem images":                           {5, 20},
			"DynamoDB PutItem images (HTTP 4xx/5xx)":            {0, 5},
			"DynamoDB UpdateItem images":                        {2.5, 3},
			"DynamoDB UpdateItem images (HTTP 4xx/5xx)":         {0, 1},
			"DynamoDB TransactWriteItems images (HTTP 4xx/5xx)": {0, 0.1}, // dynalite refuses, once per process
		}
	default:
		panic("no bounds for phase " + phase)
	}
	for k, v := range map[string]span{
		"DynamoDB GetItem images-tenants":    {1, 1.2}, // every call's API key
		"DynamoDB UpdateItem images-tenants": {0, 0.2}, // the key's last use, once a minute
		"S3 PutObject originals":             {1, 1},
		"S3 GetObject originals":             {1, 1},
		"S3 PutObject variants":              {3, 3},
		"SQS SendMessage jobs":               {1, 1},
		"SQS ReceiveMessage jobs":            {1, 1.2},
		"SQS DeleteMessage jobs":             {1, 1},
	} {
		b[k] = v
	}
	if webhooks {
		for k, v := range map[string]span{
			"DynamoDB GetItem images-webhooks":                {2, 2.5},
			"DynamoDB PutItem images-webhooks":                {1, 1.2},
			"DynamoDB PutItem images-webhooks (HTTP 4xx/5xx)": {0, 0.2}, // an event delivered twice
			"DynamoDB UpdateItem images-webhooks":             {2, 2.5},
			"SQS SendMessage events":                          {2, 2.2},
			"SQS ReceiveMessage events":                       {2, 2.5},
			"SQS DeleteMessage events":                        {2, 2.2},
		} {
			b[k] = v
		}
		// The dispatcher reads the image of each event, and the tenant's
		// signing secrets once every 5 s (webhooks.SecretsCacheTTL): a
		// few reads a phase, more per image when the images are large.
		g := b["DynamoDB GetItem images"]
		b["DynamoDB GetItem images"] = span{g.lo + 1, g.hi + 3}
		b["DynamoDB GetItem images-tenants"] = span{1, 1.5}
	}
	return b
}

// checkBounds fails the test for every request of p outside want.
func checkBounds(t *testing.T, p phase, want map[string]span) {
	t.Helper()
	for _, l := range labels(p.counts, countsOf(want)) {
		if background(l) {
			continue
		}
		got, w := p.rate(l), want[l]
		if got < w.lo || got > w.hi {
			t.Errorf("%s: %s per %s, want %s..%s", p.name, num(got), l, num(w.lo), num(w.hi))
		}
	}
}

func countsOf(m map[string]span) counts {
	c := counts{}
	for k := range m {
		c[k] = 0
	}
	return c
}

// checkIdle checks that an idle system sends nothing but its long polls
// and readiness checks, and those no more often than they are due: each
// consumer worker one receive per long-poll wait, each service's checks
// every 5 s (10 lookups in the all-in-one process: ingest 3, processor 4,
// status 1, admin 2).
func checkIdle(t *testing.T, s *system, p phase) {
	t.Helper()
	var bg float64
	for l := range p.counts {
		if !background(l) {
			t.Errorf("idle: %d × %s", p.counts[l], l)
			continue
		}
		bg += p.rate(l)
	}
	due := float64(s.workers)/s.poll.Seconds() + 10.0/5
	if s.hooks != nil {
		due += 4.0 / 20 // the dispatcher's workers, 20 s polls
	}
	if bg > 1.5*due {
		t.Errorf("idle: %.2f background requests per second, want at most %.2f", bg, 1.5*due)
	}
}

// writeTable writes one row a label: the idle phase per second, the
// others per image or per read.
func writeTable(w *strings.Builder, name string, s *system, phases []phase) {
	fmt.Fprintf(w, "#### Requests, %s (%d processor workers, %s long polls)\n\n", name, s.workers, s.poll)
	fmt.Fprintf(w, "| request |")
	for _, p := range phases {
		switch {
		case p.name == "idle":
			fmt.Fprintf(w, " idle, per s (%.0f s) |", p.elapsed.Seconds())
		case p.per == 1:
			fmt.Fprintf(w, " %s |", p.name)
		default:
			fmt.Fprintf(w, " %s, per %s (%d) |", p.name, unit(p.name), p.per)
		}
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(phases)))
	all := make([]counts, len(phases))
	for i, p := range phases {
		all[i] = p.counts
	}
	totals := make([]float64, len(phases))
	for _, l := range labels(all...) {
		fmt.Fprintf(w, "| %s |", l)
		for i, p := range phases {
			v := p.rate(l)
			if !background(l) || p.name == "idle" || p.name == "start" {
				totals[i] += v
			}
			fmt.Fprintf(w, " %s |", num(v))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "| **total** (per image and per read: without background) |")
	for _, v := range totals {
		fmt.Fprintf(w, " **%s** |", num(v))
	}
	fmt.Fprint(w, "\n\n")
}

// rate is label's count per second (idle), per image or per read.
func (p phase) rate(label string) float64 {
	n := float64(p.counts[label])
	if p.name == "idle" {
		return n / p.elapsed.Seconds()
	}
	return n / float64(p.per)
}

func unit(phase string) string {
	if strings.HasPrefix(phase, "upload") {
		return "image"
	}
	return "request"
}

func num(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v == float64(int(v)):
		return fmt.Sprintf("%d", int(v))
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// writeBytes writes the bytes stored for each image uploaded alone: the
// original and its variants in S3, and its record (the protobuf image the
// status table's item holds, beside a few small attributes).
func writeBytes(w *strings.Builder, imgs []uploaded) {
	corpus := "testdata/photos"
	if dir := os.Getenv(CorpusEnv); dir != "" {
		corpus = filepath.Base(dir)
	}
	fmt.Fprintf(w, "#### Bytes stored per image, default preset, %s (%d files)\n\n", corpus, len(imgs))
	fmt.Fprintln(w, "| file | original | thumb | medium | large | variants | all in S3 | record |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].file < imgs[j].file })
	var sum [6]int64
	for _, u := range imgs {
		row := [6]int64{u.img.GetOriginal().GetBytes()}
		for _, v := range u.img.GetVariants() {
			switch v.GetName() {
			case "thumb":
				row[1] = v.GetBytes()
			case "medium":
				row[2] = v.GetBytes()
			case "large":
				row[3] = v.GetBytes()
			}
			row[4] += v.GetBytes()
		}
		row[5] = int64(proto.Size(u.img))
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", filepath.Base(u.file), row[0], row[1], row[2], row[3], row[4], row[0]+row[4], row[5])
		for i := range row {
			sum[i] += row[i]
		}
	}
	n := int64(len(imgs))
	fmt.Fprintf(w, "| **mean** | %d | %d | %d | %d | %d | %d | %d |\n\n", sum[0]/n, sum[1]/n, sum[2]/n, sum[3]/n, sum[4]/n, (sum[0]+sum[4])/n, sum[5]/n)
}
