package browser_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/imagepipe/imagepipe/internal/testkit/promtest"
)

// tusReceived is the tus handler's count of bytes received.
const tusReceived = "imagepipe_tus_received_bytes_total"

// bigJPEG is a real photograph padded to at least size bytes with APP15
// segments of random bytes (incompressible, skipped by decoders, dropped
// with the other metadata).
func bigJPEG(t *testing.T, size int) []byte {
	t.Helper()
	src := imagetest.Fixture(t, "dandelion.jpg")
	rng := rand.New(rand.NewPCG(1, 2))
	var out bytes.Buffer
	out.Write(src[:2]) // SOI
	seg := make([]byte, 65533)
	for out.Len()+len(src) < size {
		for i := range seg {
			seg[i] = byte(rng.Uint32())
		}
		out.Write([]byte{0xFF, 0xEF})
		_ = binary.Write(&out, binary.BigEndian, uint16(len(seg)+2))
		out.Write(seg)
	}
	out.Write(src[2:])
	return out.Bytes()
}

// throttle limits the page's upload speed (bytes per second; -1: none).
func (b *Browser) throttle(upload float64) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: upload}},
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

// A 20 MB upload from the page is cut mid-way and the server restarted
// (same port, same data directory); the page resumes it from the offset
// the server kept, it completes, and the server received less than 1.5
// times the file.
func TestInterruptedUploadResumes(t *testing.T) {
	chromium(t)
	dir, addr := t.TempDir(), freeAddr(t)
	px := newProxy(t, addr)
	cfg := serverConfig(dir, addr, px.base())
	s, err := apptest.Launch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[apptest.Server]
	current.Store(s)
	t.Cleanup(func() {
		current.Load().Kill()
		if t.Failed() {
			t.Logf("logs:\n%s", current.Load().Logs.String())
		}
	})
	b := newBrowser(t, 1200, 900)
	signIn(b, px.base(), s.Token)

	big := bigJPEG(t, 20<<20)
	b.throttle(4 << 20) // 20 MB in about 5 s: the cut falls mid-way
	b.run(chromedp.SetUploadFiles(chromedp.ID("files"), []string{writeFile(t, "big.jpg", big)}))
	b.waitFor("a third of the upload", newestBatch+`.length === 1 && Number(`+newestBatch+`[0].dataset.progress) >= 30`, 60*time.Second)
	px.pause(true)
	if n := px.cut(); n == 0 {
		t.Fatal("no connection to cut")
	}
	at, _ := strconv.Atoi(tiles(b)[0].Progress)
	if at >= 100 {
		t.Fatalf("the upload was over (%d %%) before the cut", at)
	}
	time.Sleep(300 * time.Millisecond) // the handler sees the cut
	before, _ := promtest.Scrape(t, s.Base+"/metrics").Value(tusReceived, nil)
	if !s.Kill() {
		t.Fatal("the server did not stop")
	}
	s, err = apptest.Launch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	current.Store(s)
	b.throttle(-1)
	px.pause(false)

	b.waitFor("the resumed upload to end READY", newestBatch+`.length === 1 && `+newestBatch+`[0].dataset.state === "ready"`, 120*time.Second)
	got := tiles(b)[0]
	if got.Progress != "100" || got.Natural <= 0 {
		t.Errorf("after resuming: progress %s %%, thumbnail width %d", got.Progress, got.Natural)
	}
	after, ok := promtest.Scrape(t, s.Base+"/metrics").Value(tusReceived, nil)
	if !ok {
		t.Fatalf("no %s on /metrics", tusReceived)
	}
	received := before + after
	t.Logf("cut at %d %%; server received %.0f + %.0f bytes of %d (%.2fx)", at, before, after, len(big), received/float64(len(big)))
	if received >= 1.5*float64(len(big)) || after >= float64(len(big)) {
		t.Errorf("server received %.0f bytes (%.0f after the restart) for a %d-byte file: the upload did not resume", received, after, len(big))
	}
	var img struct {
		State    string `json:"state"`
		Original struct {
			Bytes string `json:"bytes"`
		} `json:"original"`
	}
	if code := call(t, http.MethodGet, s.Base+"/v1/images/"+got.ImageID, s.Token, "", nil, &img); code != 200 || img.State != "IMAGE_STATE_READY" || img.Original.Bytes != strconv.Itoa(len(big)) {
		t.Errorf("image %s: %d %s, original %s bytes, want READY with %d", got.ImageID, code, img.State, img.Original.Bytes, len(big))
	}
	b.checkRequestsStayOn(px.base())
}
