package app_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestGRPCLimitsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*app.GRPCLimits)
		errs   []string // substrings of the error; none for valid limits
	}{
		{"Default", func(*app.GRPCLimits) {}, nil},
		{"SmallestRecv", func(l *app.GRPCLimits) { l.MaxRecvBytes = app.MinRecvBytes }, nil},
		{"NoIdleOrAgeLimit", func(l *app.GRPCLimits) { l.MaxConnectionIdle, l.MaxConnectionAge = 0, 0 }, nil},
		{"NoStreams", func(l *app.GRPCLimits) { l.MaxConcurrentStreams = 0 }, []string{"grpc.max-concurrent-streams"}},
		{"RecvBelowAChunk", func(l *app.GRPCLimits) { l.MaxRecvBytes = 4 << 20 }, []string{"grpc.max-recv-bytes"}},
		{"RecvHuge", func(l *app.GRPCLimits) { l.MaxRecvBytes = 1 << 30 }, []string{"grpc.max-recv-bytes"}},
		{"PingsTooOften", func(l *app.GRPCLimits) { l.KeepaliveMinTime = time.Millisecond }, []string{"grpc.keepalive-min-time"}},
		{"NegativeDurations", func(l *app.GRPCLimits) {
			l.MaxConnectionIdle, l.MaxConnectionAge, l.MaxConnectionAgeGrace = -1, -1, -1
		}, []string{"grpc.max-connection-idle", "grpc.max-connection-age ", "grpc.max-connection-age-grace"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := app.DefaultGRPCLimits()
			tc.change(&l)
			err := l.Validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %v", tc.errs)
			}
			for _, s := range tc.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, want it to mention %q", err, s)
				}
			}
			// The whole config reports it too.
			cfg := app.DefaultConfig()
			cfg.GRPC = l
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.errs[0]) {
				t.Errorf("Config.Validate() = %v, want it to mention %q", err, tc.errs[0])
			}
		})
	}
}

// The limits are set by flags and by their IMAGEPIPE_GRPC_* variables.
func TestGRPCLimitsFlagsAndEnv(t *testing.T) {
	cfg := app.DefaultConfig()
	env := map[string]string{
		"IMAGEPIPE_GRPC_MAX_CONCURRENT_STREAMS": "8",
		"IMAGEPIPE_GRPC_KEEPALIVE_MIN_TIME":     "30s",
	}
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-grpc.max-recv-bytes=8388608", "-grpc.max-connection-idle=1m",
		"-grpc.max-connection-age=1h", "-grpc.max-connection-age-grace=10s"}); err != nil {
		t.Fatal(err)
	}
	want := app.GRPCLimits{MaxConcurrentStreams: 8, MaxRecvBytes: 8 << 20, KeepaliveMinTime: 30 * time.Second,
		MaxConnectionIdle: time.Minute, MaxConnectionAge: time.Hour, MaxConnectionAgeGrace: 10 * time.Second}
	if cfg.GRPC != want {
		t.Errorf("GRPC = %+v, want %+v", cfg.GRPC, want)
	}
	if err := fs.Parse([]string{"-grpc.max-concurrent-streams=-1"}); err == nil {
		t.Error("a negative grpc.max-concurrent-streams was accepted")
	}
}

// serveLimited serves the health service (reporting SERVING) with the
// limits on a loopback listener and returns its address.
func serveLimited(t *testing.T, l app.GRPCLimits) string {
	t.Helper()
	srv := grpc.NewServer(l.ServerOptions()...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dialHealth(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// A message up to the default limit arrives (a 4 MiB Upload chunk fits);
// a larger one is refused with RESOURCE_EXHAUSTED.
func TestGRPCMaxRecvBytes(t *testing.T) {
	l := app.DefaultGRPCLimits()
	client := dialHealth(t, serveLimited(t, l))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// The health service answers an unknown service with NOT_FOUND: the
	// request was received and read.
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("s", 4<<20)})
	if got := status.Code(err); got != codes.NotFound {
		t.Errorf("a 4 MiB message: %v, want NotFound (received)", err)
	}
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("s", l.MaxRecvBytes)})
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Errorf("a message over grpc.max-recv-bytes: %v, want ResourceExhausted", err)
	}
}

// A connection's stream beyond MaxConcurrentStreams waits until another
// ends.
func TestGRPCMaxConcurrentStreams(t *testing.T) {
	l := app.DefaultGRPCLimits()
	l.MaxConcurrentStreams = 1
	client := dialHealth(t, serveLimited(t, l))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	firstCtx, endFirst := context.WithCancel(ctx)
	defer endFirst()
	first, err := client.Watch(firstCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatalf("first stream: %v", err)
	}

	started := make(chan error, 1)
	go func() {
		second, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = second.Recv()
		}
		started <- err
	}()
	select {
	case err := <-started:
		t.Fatalf("the second stream started while the first was open (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	endFirst()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("second stream: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the second stream did not start after the first ended")
	}
}

// A client pinging more often than KeepaliveMinTime, or at all without a
// stream, is sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and
// disconnected; one pinging at MinTime is not. grpc-go clients never ping
// more often than every 10 s, so the client here is a raw HTTP/2 one.
func TestGRPCKeepaliveEnforcement(t *testing.T) {
	l := app.DefaultGRPCLimits()
	l.KeepaliveMinTime = 50 * time.Millisecond
	addr := serveLimited(t, l)

	t.Run("FasterThanMinTime", func(t *testing.T) {
		c := dialH2(t, addr)
		c.openStream(1, "/grpc.health.v1.Health/Watch")
		for range 6 {
			c.ping()
		}
		c.wantTooManyPings()
	})
	t.Run("WithoutAStream", func(t *testing.T) {
		c := dialH2(t, addr)
		for range 6 {
			c.ping()
		}
		c.wantTooManyPings()
	})
	t.Run("AtMinTime", func(t *testing.T) {
		c := dialH2(t, addr)
		c.openStream(1, "/grpc.health.v1.Health/Watch")
		for i := range 5 {
			c.ping()
			c.wantPingAck(i)
			time.Sleep(2 * l.KeepaliveMinTime)
		}
	})
}

// h2Conn is a bare HTTP/2 client connection: enough to open a stream and
// send pings at any rate.
type h2Conn struct {
	t      *testing.T
	conn   net.Conn
	frames chan h2Frame // frames read, closed at the connection's end
	pings  uint64
}

type h2Frame struct {
	typ     byte
	flags   byte
	payload []byte
}

const (
	h2Headers = 0x1
	h2Ping    = 0x6
	h2GoAway  = 0x7

	h2EndHeaders       = 0x4
	h2Ack              = 0x1
	h2EnhanceYourCalm  = 0xb
	h2SettingsFrameTyp = 0x4
)

func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &h2Conn{t: t, conn: conn, frames: make(chan h2Frame, 100)}
	go c.read()
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.write(h2SettingsFrameTyp, 0, 0, nil)
	c.write(h2SettingsFrameTyp, h2Ack, 0, nil) // the server's SETTINGS
	return c
}

func (c *h2Conn) read() {
	defer close(c.frames)
	r := bufio.NewReader(c.conn)
	var head [9]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		n := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		c.frames <- h2Frame{typ: head[3], flags: head[4], payload: payload}
	}
}

func (c *h2Conn) write(typ, flags byte, stream uint32, payload []byte) {
	c.t.Helper()
	f := make([]byte, 9, 9+len(payload))
	f[0], f[1], f[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	f[3], f[4] = typ, flags
	binary.BigEndian.PutUint32(f[5:], stream)
	if _, err := c.conn.Write(append(f, payload...)); err != nil && !errors.Is(err, net.ErrClosed) {
		c.t.Logf("write: %v", err) // the server may already have closed
	}
}

// openStream starts a gRPC call of method and sends no message: the
// server's handler waits for its request, the stream stays open.
func (c *h2Conn) openStream(id uint32, method string) {
	var block []byte
	for _, h := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", method},
		{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		// HPACK literal without indexing, new name; every string < 127.
		block = append(block, 0)
		block = append(block, byte(len(h[0])))
		block = append(block, h[0]...)
		block = append(block, byte(len(h[1])))
		block = append(block, h[1]...)
	}
	c.write(h2Headers, h2EndHeaders, id, block)
}

func (c *h2Conn) ping() {
	c.pings++
	c.write(h2Ping, 0, 0, binary.BigEndian.AppendUint64(nil, c.pings))
}

// next returns the next frame other than SETTINGS and WINDOW_UPDATE; ok
// is false when the connection ended.
func (c *h2Conn) next() (h2Frame, bool) {
	c.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return f, false
			}
			if f.typ == h2SettingsFrameTyp || f.typ == 0x8 {
				continue
			}
			return f, true
		case <-timeout:
			c.t.Fatal("no frame from the server in 5s")
		}
	}
}

func (c *h2Conn) wantTooManyPings() {
	c.t.Helper()
	for {
		f, ok := c.next()
		if !ok {
			c.t.Fatal("the connection ended without GOAWAY")
		}
		if f.typ == h2Ping {
			continue // acks of the pings before the limit
		}
		if f.typ != h2GoAway {
			c.t.Fatalf("frame type %d, want GOAWAY", f.typ)
		}
		code, debug := binary.BigEndian.Uint32(f.payload[4:8]), string(f.payload[8:])
		if code != h2EnhanceYourCalm || debug != "too_many_pings" {
			c.t.Errorf("GOAWAY code %#x %q, want ENHANCE_YOUR_CALM (0xb) \"too_many_pings\"", code, debug)
		}
		break
	}
	for {
		f, ok := c.next()
		if !ok {
			return // closed
		}
		if f.typ != h2Ping && f.typ != h2GoAway {
			c.t.Fatalf("after GOAWAY: frame type %d, want the connection closed", f.typ)
		}
	}
}

func (c *h2Conn) wantPingAck(i int) {
	c.t.Helper()
	f, ok := c.next()
	if !ok {
		c.t.Fatalf("ping %d: the connection ended", i)
	}
	if f.typ != h2Ping || f.flags&h2Ack == 0 {
		c.t.Fatalf("ping %d: frame type %d flags %#x, want a PING ack", i, f.typ, f.flags)
	}
}
