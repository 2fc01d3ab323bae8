package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/fsblob"
	"github.com/imagepipe/imagepipe/services/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkAsset serves a public variant of the given size, over loopback
// HTTP/1.1 with kept-alive connections, as a CDN or browser fetches it;
// the client side is a bare request/answer loop, so that most of the time
// measured is the server's. -cpuprofile shows where a request's time goes;
// make bench-load (scripts/bench/load) compares the whole server with nginx.
func BenchmarkAsset(b *testing.B) {
	for _, size := range []int{12 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			base, path := assetServer(b, size)
			req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\n\r\n")
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			b.SetParallelism(16) // 32 connections on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", base)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReaderSize(c, 64<<10)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := readAnswer(br, size); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// assetServer is a gateway serving one public variant of size bytes from
// a file store: its address and the variant's path.
func assetServer(b *testing.B, size int) (addr, path string) {
	b.Helper()
	variants, err := fsblob.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	id := jobs.NewID()
	body := bytes.Repeat([]byte{0x5a}, size)
	if _, err := variants.Put(context.Background(), jobs.VariantKey(id, "thumb", false), bytes.NewReader(body), blob.PutOptions{ContentType: "image/webp"}); err != nil {
		b.Fatal(err)
	}
	// Variants are served without any gRPC call: the connection is never used.
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	cfg := gateway.DefaultConfig()
	h, err := gateway.New(context.Background(), cfg,
		gateway.Deps{Conns: gateway.Conns{Ingest: conn, Status: conn, Processor: conn}, Variants: variants},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config = cfg.HTTPServer(h)
	srv.Config.ErrorLog = nil
	srv.Start()
	b.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), jobs.VariantPath(id, "thumb")
}

// readAnswer reads one answer, which must be a 200 of size bytes.
func readAnswer(br *bufio.Reader, size int) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q", bytes.TrimSpace(status))
	}
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n != size {
		return fmt.Errorf("Content-Length %d, want %d", n, size)
	}
	_, err = br.Discard(n)
	return err
}
