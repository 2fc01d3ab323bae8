// Package gateway serves imagepipe's REST/JSON API: grpc-gateway routes for
// the status and processor services, custom streaming routes for uploads
// and variant downloads, /healthz and /openapi.json. It talks to the
// services only over gRPC, passing on each caller's bearer credential;
// variants are read from the variants store, private ones only through a
// signed link.
package gateway

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/gen/openapiv2"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/web"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Config of the gateway.
type Config struct {
	// DefaultWait is how long a single upload waits for READY when the
	// request gives no wait= (0 = answer 202 at once).
	DefaultWait time.Duration
	// MaxWait caps wait=.
	MaxWait time.Duration
	// ChunkSize is the size of the chunks an upload body is streamed in.
	ChunkSize int
	// MaxFiles caps the files of one multipart upload.
	MaxFiles int
	// SSEKeepalive is how often an idle server-sent event stream gets a
	// keepalive comment.
	SSEKeepalive time.Duration
	// CORSOrigins are the origins (scheme://host[:port]) whose web pages
	// may call the API; empty (the default) sends no CORS headers at all.
	CORSOrigins []string
	// OIDC is the web page's redirect sign-in (off without a client id).
	OIDC web.OIDC
	// AuthOff says the services authenticate no one (IMAGEPIPE_AUTH=off):
	// /healthz and the log warn about it.
	AuthOff bool

	// ReadHeaderTimeout is how long a client has to send a request's
	// headers.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration
	// ReadTimeout is how long a client has to send the body of a request
	// other than an upload; an upload's body may take any time but must
	// keep moving: it is cut after ReadTimeout without a byte.
	ReadTimeout time.Duration
	// WriteTimeout is how long a non-streaming answer may take, from the
	// end of its request's headers; a stream (SSE, variant download) is cut
	// after WriteTimeout without progress on one write.
	WriteTimeout time.Duration
	// MaxJSONBytes caps the body of a JSON (non-upload) request.
	MaxJSONBytes int64
	// MaxUploadBytes is the largest original accepted (ingest.max-bytes,
	// set by the app): an upload's body may be this plus
	// multipartOverhead.
	MaxUploadBytes int64
	// MaxFieldBytes caps a non-file part of a multipart upload.
	MaxFieldBytes int64
	// PublicURL is the base of variant URLs (set by the app): the web
	// page may show images from its origin.
	PublicURL string
	// MaxMultipartBytes caps a whole multipart upload (several files, each
	// at most MaxUploadBytes).
	MaxMultipartBytes int64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DefaultWait: 5 * time.Second, MaxWait: 60 * time.Second, ChunkSize: DefaultChunkSize, MaxFiles: 1000, SSEKeepalive: 15 * time.Second,
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		MaxJSONBytes: 1 << 20, MaxUploadBytes: 50 << 20, MaxFieldBytes: 64 << 10, MaxMultipartBytes: 1 << 30,
		OIDC: web.OIDC{Scopes: "openid"},
	}
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.DefaultWait, "gateway.default-wait", c.DefaultWait, "how long POST /v1/images waits for READY when the request gives no wait=")
	fs.IntVar(&c.MaxFiles, "gateway.max-files", c.MaxFiles, "most files in one multipart upload")
	fs.Int64Var(&c.MaxMultipartBytes, "gateway.max-multipart-bytes", c.MaxMultipartBytes, "largest multipart upload body (all its files together)")
	fs.Var((*originList)(&c.CORSOrigins), "gateway.cors-origins", "comma-separated origins (scheme://host[:port]) whose web pages may call the API; empty: no CORS")
	fs.DurationVar(&c.ReadHeaderTimeout, "gateway.read-header-timeout", c.ReadHeaderTimeout, "how long a client has to send a request's headers")
	fs.DurationVar(&c.IdleTimeout, "gateway.idle-timeout", c.IdleTimeout, "how long a kept-alive HTTP connection may wait for its next request")
	fs.DurationVar(&c.ReadTimeout, "gateway.read-timeout", c.ReadTimeout, "how long a client has to send a JSON request's body; an upload's body is cut after this long without a byte")
	fs.DurationVar(&c.WriteTimeout, "gateway.write-timeout", c.WriteTimeout, "how long a non-streaming answer may take; a stream is cut after this long stuck on one write")
	fs.Int64Var(&c.MaxJSONBytes, "gateway.max-json-bytes", c.MaxJSONBytes, "largest body of a JSON (non-upload) request, in bytes")
}

// Validate reports a bad config.
func (c *Config) Validate() error {
	var errs []error
	if c.DefaultWait < 0 || c.DefaultWait > c.MaxWait {
		errs = append(errs, errors.New("gateway.default-wait must be between 0 and the max wait"))
	}
	if c.ChunkSize < 1024 || c.ChunkSize > 4<<20 {
		errs = append(errs, errors.New("gateway chunk size must be 1 KiB..4 MiB"))
	}
	if c.MaxFiles < 1 {
		errs = append(errs, errors.New("gateway.max-files must be at least 1"))
	}
	if c.SSEKeepalive <= 0 {
		errs = append(errs, errors.New("gateway SSE keepalive must be positive"))
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"gateway.read-header-timeout", c.ReadHeaderTimeout}, {"gateway.idle-timeout", c.IdleTimeout},
		{"gateway.read-timeout", c.ReadTimeout}, {"gateway.write-timeout", c.WriteTimeout}} {
		if t.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", t.name, t.d))
		}
	}
	if c.MaxJSONBytes < 1024 {
		errs = append(errs, fmt.Errorf("gateway.max-json-bytes must be at least 1024, got %d", c.MaxJSONBytes))
	}
	if c.MaxMultipartBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("gateway.max-multipart-bytes %d: at least 1 MiB", c.MaxMultipartBytes))
	}
	if c.MaxUploadBytes <= 0 {
		errs = append(errs, errors.New("gateway max upload bytes (ingest.max-bytes) must be positive"))
	}
	if c.MaxFieldBytes <= 0 {
		errs = append(errs, errors.New("gateway max field bytes must be positive"))
	}
	for _, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("gateway.cors-origins: %w", err))
		}
	}
	return errors.Join(errs...)
}

// HTTPServer is the HTTP server of handler h (from New) with the config's
// header and idle timeouts. It sets no ReadTimeout or WriteTimeout: those
// would cut streams and slow uploads, so the handler sets each request's
// deadlines itself (see withDeadlines).
func (c Config) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: c.IdleTimeout}
}

// Conns are the gateway's connections to the services.
type Conns struct {
	Ingest, Status, Processor grpc.ClientConnInterface
	// Admin serves /v1/admin/...; nil (or a nil *grpc.ClientConn) leaves
	// those routes out.
	Admin grpc.ClientConnInterface
}

// URLVerifier checks a signed link (urlsign.Signer): path is the URL path
// (/a/ID/VARIANT), exp and sig its query values; nil when the link is
// genuine and not expired at now.
type URLVerifier interface {
	Verify(path, exp, sig string, now time.Time) error
}

// Deps are what the gateway works with.
type Deps struct {
	Conns Conns
	// Variants is the variants store: a public image's variants under
	// {id}/{variant}, a private one's under private/{id}/{variant}.
	Variants blob.Store
	// URLs verifies the signed links to private variants; nil refuses every
	// signed link (403), so no private variant is served.
	URLs URLVerifier
	// Metrics is the process's registry: the HTTP metrics are registered
	// on it and it is served on /metrics. Nil: neither.
	Metrics *prometheus.Registry
}

// Gateway is the REST API.
type Gateway struct {
	cfg       Config
	ingest    pb.IngestServiceClient
	status    pb.StatusServiceClient
	conns     Conns
	variants  blob.Store
	urls      URLVerifier
	log       *slog.Logger
	marshaler *runtime.JSONPb
	tus       http.Handler // resumable uploads (tus.go)
}

// authOffWarning is what /healthz and the log say when nobody is
// authenticated.
const authOffWarning = "authentication is off (IMAGEPIPE_AUTH=off): anyone who can reach this server can use it"

// New builds the gateway's handler.
func New(ctx context.Context, cfg Config, deps Deps, log *slog.Logger) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGateway(cfg, deps, log)
	mux := newServeMux(g.marshaler, routed(log))
	if err := g.registerServices(ctx, mux); err != nil {
		return nil, err
	}
	if err := g.registerRoutes(mux); err != nil {
		return nil, err
	}
	var err error
	if g.tus, err = g.newTus(deps.Metrics); err != nil {
		return nil, err
	}
	if deps.Metrics != nil {
		if err := mux.HandlePath(http.MethodGet, "/metrics", serveMetrics(deps.Metrics)); err != nil {
			return nil, err
		}
	}
	if cfg.AuthOff {
		log.Warn(authOffWarning)
	}
	return g.observe(g.middleware(mux), deps.Metrics), nil
}

// newGateway holds the config, the service clients and the stores.
func newGateway(cfg Config, deps Deps, log *slog.Logger) *Gateway {
	conns := deps.Conns
	return &Gateway{
		cfg:      cfg,
		ingest:   pb.NewIngestServiceClient(conns.Ingest),
		status:   pb.NewStatusServiceClient(conns.Status),
		conns:    conns,
		variants: deps.Variants,
		urls:     deps.URLs,
		log:      log,
		marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		},
	}
}

// newServeMux is the grpc-gateway mux with imagepipe's marshaler, error
// handlers, forwarded headers and middlewares (run once a route matched).
func newServeMux(marshaler runtime.Marshaler, middlewares ...runtime.Middleware) *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithMiddlewares(middlewares...),
	)
}

// incomingHeader says which HTTP headers go on as gRPC metadata, and as what.
func incomingHeader(h string) (string, bool) {
	switch {
	case strings.EqualFold(h, trace.Header), strings.EqualFold(h, "tracestate"):
		// The request's span is the parent of the gRPC calls (observe.go),
		// whose own context goes on as metadata.
		return "", false
	case strings.EqualFold(h, headerAuthorization):
		// grpc-gateway passes it on as "authorization" by itself;
		// no second copy under grpcgateway-authorization.
		return "", false
	}
	return runtime.DefaultHeaderMatcher(h)
}

// registerServices adds the generated routes of the services to mux; the
// admin ones only when there is an admin connection.
func (g *Gateway) registerServices(ctx context.Context, mux *runtime.ServeMux) error {
	if err := pb.RegisterStatusServiceHandlerClient(ctx, mux, pb.NewStatusServiceClient(g.conns.Status)); err != nil {
		return err
	}
	if err := pb.RegisterProcessorServiceHandlerClient(ctx, mux, pb.NewProcessorServiceClient(g.conns.Processor)); err != nil {
		return err
	}
	if g.conns.hasAdmin() {
		if err := pb.RegisterAdminServiceHandlerClient(ctx, mux, pb.NewAdminServiceClient(g.conns.Admin)); err != nil {
			return err
		}
	}
	// Only CreateUploadURL has an HTTP rule; uploads are the custom route.
	return pb.RegisterIngestServiceHandlerClient(ctx, mux, g.ingest)
}

// registerRoutes adds the custom routes (uploads, variants, /healthz,
// /openapi.json, the web page) to mux.
func (g *Gateway) registerRoutes(mux *runtime.ServeMux) error {
	page := web.New(g.cfg.PublicURL, g.cfg.OIDC)
	routes := []struct {
		method, path string
		h            runtime.HandlerFunc
	}{
		{http.MethodPost, "/v1/images", g.upload},
		{http.MethodGet, "/a/{id}/{variant}", g.asset},
		{http.MethodHead, "/a/{id}/{variant}", g.asset},
		{http.MethodGet, "/healthz", g.healthz},
		{http.MethodGet, "/readyz", g.readyz},
		{http.MethodGet, "/openapi.json", openapi},
		{http.MethodGet, "/", page.Index}, {http.MethodHead, "/", page.Index},
		{http.MethodGet, "/config.json", page.Config}, {http.MethodHead, "/config.json", page.Config},
		{http.MethodGet, "/assets/{name}", page.Asset}, {http.MethodHead, "/assets/{name}", page.Asset},
	}
	for _, r := range routes {
		if err := mux.HandlePath(r.method, r.path, r.h); err != nil {
			return err
		}
	}
	return nil
}

// middleware wraps mux in the handlers that see every request.
func (g *Gateway) middleware(mux http.Handler) http.Handler {
	// Outermost first: CORS answers preflights (and labels every answer,
	// errors included), 401s get their challenge, and refused content
	// types stop before any gRPC call.
	h := withChallenge(withTus(g.tus, requireContentType(g.withSSE(mux))))
	if len(g.cfg.CORSOrigins) > 0 {
		h = newCORS(g.cfg.CORSOrigins).Handler(h)
	}
	// Outermost of all: deadlines and body caps hold for every answer.
	return g.withDeadlines(h)
}

// customRoutes documents the routes that are not generated from the protos.
//
//go:embed openapi_routes.json
var customRoutes []byte

// openapiDoc is the generated document plus the custom routes.
var openapiDoc = sync.OnceValues(func() ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openapiv2.JSON, &doc); err != nil {
		return nil, err
	}
	var extra map[string]any
	if err := json.Unmarshal(customRoutes, &extra); err != nil {
		return nil, err
	}
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
		doc["paths"] = paths
	}
	for p, ops := range extra {
		paths[p] = mergeJSON(paths[p], ops)
	}
	return json.MarshalIndent(doc, "", "  ")
})

// mergeJSON merges extra into base: objects key by key (recursively),
// arrays appended, anything else replaced by extra. A custom route can so
// add to a generated operation (a header parameter, a content type)
// without repeating it.
func mergeJSON(base, extra any) any {
	switch e := extra.(type) {
	case map[string]any:
		b, ok := base.(map[string]any)
		if !ok {
			return e
		}
		for k, v := range e {
			b[k] = mergeJSON(b[k], v)
		}
		return b
	case []any:
		if b, ok := base.([]any); ok {
			return append(b, e...)
		}
	}
	return extra
}

func openapi(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	doc, err := openapiDoc()
	if err != nil {
		writeError(w, apperr.Internal(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

// hasAdmin reports whether an AdminService connection was given (a nil
// *grpc.ClientConn counts as none).
func (c Conns) hasAdmin() bool {
	cc, ok := c.Admin.(*grpc.ClientConn)
	return c.Admin != nil && (!ok || cc != nil)
}

// healthz is 200 when every service answers its gRPC health check; with
// authentication off, its JSON carries a warning.
func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	services := map[string]grpc.ClientConnInterface{
		pb.IngestService_ServiceDesc.ServiceName:    g.conns.Ingest,
		pb.StatusService_ServiceDesc.ServiceName:    g.conns.Status,
		pb.ProcessorService_ServiceDesc.ServiceName: g.conns.Processor,
	}
	if g.conns.hasAdmin() {
		services[pb.AdminService_ServiceDesc.ServiceName] = g.conns.Admin
	}
	out := map[string]string{}
	code := http.StatusOK
	for name, conn := range services {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		switch {
		case err != nil:
			out[name] = "UNREACHABLE"
			code = http.StatusServiceUnavailable
		default:
			out[name] = resp.GetStatus().String()
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				code = http.StatusServiceUnavailable
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]any{"ok": code == http.StatusOK, "services": out}
	if g.cfg.AuthOff {
		body["warning"] = authOffWarning
	}
	_ = json.NewEncoder(w).Encode(body)
}
