package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/services/gateway"
)

// imageBody is n bytes that sniff as a PNG: a real one, then random bytes.
func imageBody(t *testing.T, n int) []byte {
	t.Helper()
	b := pngImage(t)
	if n < len(b) {
		t.Fatalf("at least %d bytes", len(b))
	}
	tail := make([]byte, n-len(b))
	_, _ = rand.Read(tail)
	return append(b, tail...)
}

// An upload, whatever its size against the chunks it is sent in, is
// stored byte for byte: the record's size and SHA-256 are the body's.
func TestUploadStoredExactly(t *testing.T) {
	e := newEnv(t, envOptions{})
	const chunk = gateway.DefaultChunkSize
	for _, n := range []int{100, chunk - 1, chunk, chunk + 1, 3*chunk + 12345} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			body := imageBody(t, n)
			resp := e.do(t, context.Background(), "POST", "/v1/images?wait=0", http.Header{"Content-Type": {"image/png"}}, bytes.NewReader(body))
			var img struct {
				Original struct {
					Bytes  string `json:"bytes"`
					Sha256 string `json:"sha256"`
				} `json:"original"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&img); err != nil || resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%d, %v", resp.StatusCode, err)
			}
			sum := sha256.Sum256(body)
			if img.Original.Bytes != strconv.Itoa(n) || img.Original.Sha256 != hex.EncodeToString(sum[:]) {
				t.Errorf("stored %s bytes with SHA-256 %s, want %d with %x", img.Original.Bytes, img.Original.Sha256, n, sum)
			}
		})
	}
}

// A variant's body is served whole, in one chunk or several, with its
// length and ETag; a HEAD gets the same headers and no body.
func TestVariantBodies(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, n := range []int{0, 100, 12 << 10, 2<<20 + 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			id := jobs.NewID()
			body := make([]byte, n)
			_, _ = rand.Read(body)
			a, err := e.variants.Put(context.Background(), jobs.VariantKey(id, "large", false), bytes.NewReader(body), blob.PutOptions{ContentType: "image/webp"})
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []string{"GET", "HEAD"} {
				resp := e.do(t, context.Background(), method, jobs.VariantPath(id, "large"), nil, nil)
				got, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: %d, %v", method, resp.StatusCode, err)
				}
				want := body
				if method == "HEAD" {
					want = nil
				}
				if !bytes.Equal(got, want) || resp.Header.Get("Content-Length") != strconv.Itoa(n) ||
					resp.Header.Get("ETag") != `"`+a.ETag+`"` || resp.Header.Get("Content-Type") != "image/webp" {
					t.Errorf("%s: %d bytes, headers %v; want %d bytes, ETag %q", method, len(got), resp.Header, len(want), a.ETag)
				}
			}
		})
	}
}

// A variant download may take any time while the client reads, but is
// cut once one write is stuck for the write timeout.
func TestVariantDownloadDeadlines(t *testing.T) {
	cfg := gateway.DefaultConfig()
	cfg.WriteTimeout = time.Second
	e := newEnv(t, envOptions{cfg: cfg})
	id := jobs.NewID()
	// More than loopback's socket buffers hold, so that a client that does
	// not read stalls the server's writes.
	body := make([]byte, 32<<20)
	_, _ = rand.Read(body)
	if _, err := e.variants.Put(context.Background(), jobs.VariantKey(id, "large", false), bytes.NewReader(body), blob.PutOptions{ContentType: "image/webp"}); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(body)

	t.Run("slow", func(t *testing.T) {
		resp := e.do(t, context.Background(), "GET", jobs.VariantPath(id, "large"), nil, nil)
		h := sha256.New()
		var got int64
		start := time.Now()
		for {
			n, err := io.CopyN(h, resp.Body, 4<<20)
			got += n
			if err != nil || n == 0 {
				break
			}
			time.Sleep(cfg.WriteTimeout / 4) // eight times: twice the write timeout in all
		}
		if !bytes.Equal(h.Sum(nil), want[:]) || time.Since(start) < 3*cfg.WriteTimeout/2 {
			t.Errorf("read %d of %d bytes in %s; want all of them, slowly", got, len(body), time.Since(start))
		}
	})

	t.Run("stuck", func(t *testing.T) {
		resp := e.do(t, context.Background(), "GET", jobs.VariantPath(id, "large"), nil, nil)
		time.Sleep(2 * cfg.WriteTimeout)
		got, err := io.Copy(io.Discard, resp.Body)
		if err == nil || got >= int64(len(body)) {
			t.Errorf("read %d of %d bytes (%v) after stalling; want the download cut", got, len(body), err)
		}
	})
}
