// Package apptest runs a whole imagepipe process (internal/app) inside a
// test, on loopback and a data directory of its own, and stops it when the
// test ends: the embeddable test server system and command-line tests
// share.
package apptest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/testkit/faultblob"
	"github.com/imagepipe/imagepipe/internal/testkit/syncbuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config is the all-in-one config on dir, listening on loopback ports the
// system picks, with short queue timeouts so that redelivery takes seconds.
func Config(dir string) app.Config {
	cfg := app.DefaultConfig()
	cfg.DataDir = dir
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.Processor.Visibility = 2 * time.Second
	cfg.Processor.RetryBackoff = 100 * time.Millisecond
	cfg.Processor.PollWait = 500 * time.Millisecond
	cfg.LogLevel = "debug"
	return cfg
}

// FailVariants makes the variants store's writes go through fault.
func FailVariants(fault faultblob.Fault) app.Option {
	return app.WithVariantsStore(func(s blob.Store) blob.Store { return faultblob.Wrap(s, fault) })
}

// Server is an imagepipe process running in this one.
type Server struct {
	App  *app.App
	Cfg  app.Config
	Base string // http://127.0.0.1:port, "" for a target without HTTP
	Logs *syncbuf.Buffer
	// Token is the operator's admin key (tenant default): IMAGEPIPE_ADMIN_KEY
	// if the config sets one, else the one the server generated into its
	// data directory; "" when authentication is off.
	Token string
	// HTTP is a client that sends Token with every request that does not
	// carry an Authorization header of its own.
	HTTP *http.Client

	stop    context.CancelFunc
	stopped chan error
}

// Launch starts a server and, when it serves HTTP, waits until it is
// healthy.
func Launch(cfg app.Config, opts ...app.Option) (*Server, error) {
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logging.New(logs, cfg.LogLevel), opts...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", cfg.Target, err)
	}
	s := &Server{App: a, Cfg: cfg, Logs: logs, stop: cancel, stopped: make(chan error, 1)}
	s.Token = adminToken(cfg)
	s.HTTP = &http.Client{Transport: WithToken(http.DefaultTransport, s.Token)}
	go func() { s.stopped <- a.Run(ctx) }()
	if a.HTTPAddr() != "" {
		s.Base = "http://" + a.HTTPAddr()
		if err := WaitHealthy(s.Base); err != nil {
			s.Kill()
			return nil, fmt.Errorf("%w; logs:\n%s", err, logs.String())
		}
	}
	return s, nil
}

// Start launches a server that runs until the test ends; its logs are
// printed if the test fails.
func Start(t testing.TB, cfg app.Config, opts ...app.Option) *Server {
	t.Helper()
	s, err := Launch(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !s.Kill() {
			t.Errorf("%s did not stop within %s", cfg.Target, stopWait)
		}
		if t.Failed() {
			t.Logf("logs of %s:\n%s", cfg.Target, s.Logs.String())
		}
	})
	return s
}

// stopWait bounds a graceful stop: the gRPC server's drain (10 s) and the
// workers' shutdown grace fit in it.
const stopWait = 30 * time.Second

// Kill stops the server gracefully (idempotent) and waits for it; it
// reports whether the server stopped within stopWait.
func (s *Server) Kill() bool {
	s.stop()
	select {
	case <-s.stopped:
		s.stopped <- nil
		return true
	case <-time.After(stopWait):
		return false
	}
}

// Conn is a gRPC client connection to the server that sends Token with
// every call, closed when the test ends.
func (s *Server) Conn(t testing.TB) *grpc.ClientConn {
	t.Helper()
	return s.ConnAs(t, s.Token)
}

// ConnAs is a gRPC client connection sending token ("" sends none).
func (s *Server) ConnAs(t testing.TB, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.PerRPCToken(token)))
	}
	conn, err := grpc.NewClient(s.App.GRPCAddr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// WaitHealthy polls base/healthz for up to 10 s.
func WaitHealthy(base string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s/healthz never became healthy", base)
}

// Remote is a Server for a process running elsewhere (a child process):
// its HTTP base and the token to send.
func Remote(base, token string) *Server {
	return &Server{Base: base, Token: token, HTTP: &http.Client{Transport: WithToken(http.DefaultTransport, token)}}
}

// ReadToken returns the admin key the embedded default generated in
// dataDir ("" if there is none).
func ReadToken(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.key"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// adminToken is the operator's key of a server started with cfg.
func adminToken(cfg app.Config) string {
	if cfg.AuthOff() {
		return ""
	}
	if cfg.AdminKey != "" {
		return cfg.AdminKey
	}
	return ReadToken(cfg.DataDir)
}

// WithToken returns a transport that adds "Authorization: Bearer token" to
// requests without an Authorization header ("" adds nothing).
func WithToken(rt http.RoundTripper, token string) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if token != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return rt.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
