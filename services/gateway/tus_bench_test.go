package gateway_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
)

// BenchmarkTusVsPost uploads the same 20 MB photograph through POST
// /v1/images and through tus (one PATCH, and PATCHes of 5 MiB as
// tus-js-client sends with a chunkSize), side by side on one server, and
// reports MB/s of each and tus's time over POST's:
//
//	go test -run '^$' -bench TusVsPost -benchtime 5x ./services/gateway/
func BenchmarkTusVsPost(b *testing.B) {
	photo := big(b)
	cfg := apptest.Config(b.TempDir())
	cfg.LogLevel = "warn"
	cfg.Processor.Workers = 1
	srv := apptest.Start(b, cfg)
	post := func() {
		req, _ := http.NewRequest(http.MethodPost, srv.Base+"/v1/images?wait=0s", bytes.NewReader(photo))
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode/100 != 2 {
			b.Fatalf("POST: %v %v", err, resp)
		}
		_ = resp.Body.Close()
	}
	tus := func(chunk int) func() {
		return func() {
			loc := tusRequest(b, srv, http.MethodPost, srv.Base+"/v1/tus/", map[string]string{"Upload-Length": strconv.Itoa(len(photo))}, nil, http.StatusCreated).Header.Get("Location")
			for off := 0; off < len(photo); off += chunk {
				end := min(off+chunk, len(photo))
				tusRequest(b, srv, http.MethodPatch, loc, map[string]string{"Upload-Offset": strconv.Itoa(off),
					"Content-Type": "application/offset+octet-stream"}, photo[off:end], http.StatusNoContent)
			}
		}
	}
	ways := []struct {
		name string
		fn   func()
	}{{"post", post}, {"tus-1-patch", tus(len(photo))}, {"tus-5MiB-patches", tus(5 << 20)}}
	took := map[string]time.Duration{}
	// Interleaved, so that the machine's load falls on each alike.
	for i := 0; i < max(b.N, 3); i++ {
		for _, w := range ways {
			start := time.Now()
			w.fn()
			took[w.name] += time.Since(start)
		}
	}
	n := float64(max(b.N, 3))
	for _, w := range ways {
		b.ReportMetric(float64(len(photo))*n/took[w.name].Seconds()/1e6, w.name+"-MB/s")
		b.ReportMetric(took[w.name].Seconds()/took["post"].Seconds(), w.name+"/post")
	}
}

func tusRequest(b *testing.B, srv *apptest.Server, method, url string, header map[string]string, body []byte, want int) *http.Response {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != want {
		b.Fatalf("%s %s: %v %v", method, url, err, resp)
	}
	_ = resp.Body.Close()
	return resp
}
