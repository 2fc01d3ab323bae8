package app

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/flagenv"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"github.com/imagepipe/imagepipe/services/gateway"
	"github.com/imagepipe/imagepipe/services/ingest"
	"github.com/imagepipe/imagepipe/services/processor"
	"github.com/imagepipe/imagepipe/services/status"
	"github.com/imagepipe/imagepipe/services/webhooks"
)

// Config is the whole process's configuration: defaults, then IMAGEPIPE_*
// environment variables (LoadEnv), then flags (RegisterFlags).
type Config struct {
	Target   string
	HTTPAddr string
	GRPCAddr string
	// OpsAddr is the ops listener's address (/metrics, /healthz, /readyz,
	// /debug/pprof/); empty (the default) for none.
	OpsAddr string
	// DataDir holds every embedded store whose URL is not set.
	DataDir string
	// Store URLs; empty means the embedded default under DataDir.
	OriginalsURL, VariantsURL, QueueURL, StatusURL string
	// EventsURL is the webhooks' events queue. Empty: beside an embedded
	// (sqlite) job queue in the same file; required with any other queue
	// when webhooks are on.
	EventsURL string
	// Webhook settings as given (comma-separated lists); resolve parses them
	// into Webhooks. Secrets come only from the environment.
	WebhookURLs, WebhookSecrets, WebhookAllowNets string
	// PublicURL is the base of variant URLs (a CDN in production).
	PublicURL string
	// Peers the gateway dials when it runs as its own target.
	IngestAddr, StatusAddr, ProcessorAddr string
	LogLevel                              string
	// PresetsFile is a JSON file of presets (and watermark images) merged
	// over the built-ins; empty for the built-ins only.
	PresetsFile string

	// Identity: IMAGEPIPE_AUTH=off lets every call in as the operator;
	// AdminKey (environment only) is the operator's bootstrap key; JWT
	// verifies identity providers' tokens when JWT.JWKS is set.
	Auth     string
	AdminKey string
	JWT      auth.JWTConfig
	// Reflection registers gRPC server reflection (open, like health).
	Reflection bool
	// URLSigningKeys (environment only) sign private images' URLs, first
	// signs, all verify; SignedURLTTL is how long a record's URLs work.
	URLSigningKeys string
	SignedURLTTL   time.Duration
	// GRPC bounds what one client may hold of the gRPC server.
	GRPC GRPCLimits
	// Limits are the fair limits: requests per second per tenant and
	// uploads in flight per process and per tenant.
	Limits limits.Config

	Ingest    ingest.Config
	Processor processor.Config
	Status    status.Config
	Gateway   gateway.Config
	Webhooks  webhooks.Config
}

// DefaultConfig returns the defaults: everything in one process on the
// embedded stores under ./data.
func DefaultConfig() Config {
	return Config{
		Target:        TargetAll,
		HTTPAddr:      ":8080",
		GRPCAddr:      ":9090",
		DataDir:       "data",
		PublicURL:     "http://localhost:8080",
		IngestAddr:    "localhost:9090",
		StatusAddr:    "localhost:9090",
		ProcessorAddr: "localhost:9090",
		LogLevel:      "info",
		Auth:          "on",
		Reflection:    true,
		SignedURLTTL:  time.Hour,
		JWT:           auth.JWTConfig{TenantClaim: auth.DefaultTenantClaim, ScopesClaim: auth.DefaultScopesClaim},
		GRPC:          DefaultGRPCLimits(),
		Limits:        limits.DefaultConfig(),
		Ingest:        ingest.DefaultConfig(),
		Processor:     processor.DefaultConfig(),
		Status:        status.DefaultConfig(),
		Gateway:       gateway.DefaultConfig(),
		Webhooks:      webhooks.DefaultConfig(),
	}
}

// Flags and environment variables follow one scheme: a flag is
// lower-case words joined by '-', a module's settings prefixed with the
// module's name and a dot (processor.workers, gateway.status-addr); its
// variable is IMAGEPIPE_ and the flag's name upper-cased with '.' and '-'
// as '_' (IMAGEPIPE_PROCESSOR_WORKERS). Every flag has a variable. Older
// names keep working: envAliases and flagAliases map them to the new ones.
var envSet = flagenv.Set{Prefix: "IMAGEPIPE", Aliases: envAliases}

// envAliases are the variables of earlier releases, each the flag it sets.
var envAliases = map[string]string{
	"IMAGEPIPE_WORKERS":              "processor.workers",
	"IMAGEPIPE_JOB_THREADS":          "processor.job-threads",
	"IMAGEPIPE_MAX_ATTEMPTS":         "processor.max-attempts",
	"IMAGEPIPE_MAX_UPLOAD_BYTES":     "ingest.max-bytes",
	"IMAGEPIPE_DEFAULT_WAIT":         "gateway.default-wait",
	"IMAGEPIPE_INGEST_ADDR":          "gateway.ingest-addr",
	"IMAGEPIPE_STATUS_ADDR":          "gateway.status-addr",
	"IMAGEPIPE_PROCESSOR_ADDR":       "gateway.processor-addr",
	"IMAGEPIPE_WEBHOOK_URLS":         "webhooks.urls",
	"IMAGEPIPE_WEBHOOK_SECRETS":      "webhooks.secrets",
	"IMAGEPIPE_WEBHOOK_ALLOW_NETS":   "webhooks.allow-nets",
	"IMAGEPIPE_WEBHOOK_MAX_ATTEMPTS": "webhooks.max-attempts",
	"IMAGEPIPE_WEBHOOK_BACKOFF":      "webhooks.backoff",
	"IMAGEPIPE_WEBHOOK_MAX_BACKOFF":  "webhooks.max-backoff",
	"IMAGEPIPE_WEBHOOK_TIMEOUT":      "webhooks.timeout",
	"IMAGEPIPE_CORS_ORIGINS":         "gateway.cors-origins",
}

// flagAliases are the flags of earlier releases, each the flag it now is.
var flagAliases = map[string]string{
	"ingest-addr":          "gateway.ingest-addr",
	"status-addr":          "gateway.status-addr",
	"processor-addr":       "gateway.processor-addr",
	"webhook-urls":         "webhooks.urls",
	"webhook-allow-nets":   "webhooks.allow-nets",
	"webhook-max-attempts": "webhooks.max-attempts",
	"webhook-backoff":      "webhooks.backoff",
	"webhook-max-backoff":  "webhooks.max-backoff",
	"webhook-timeout":      "webhooks.timeout",
	"cors-origins":         "gateway.cors-origins",
}

// SDKEnvNames are the standard variables of the AWS SDK and OpenTelemetry
// that the binary relies on besides its own (the AWS drivers; tracing in
// internal/platform/trace, through autoexport and the SDK). Deployment
// files (docker-compose.yml, the Helm chart, the CDK stack) may set them.
var SDKEnvNames = []string{
	"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
	"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME",
}

// ReadsEnv reports whether the binary reads the environment variable
// name: one of EnvNames or SDKEnvNames. Tests of deployment files use it.
func ReadsEnv(name string) bool {
	return slices.Contains(EnvNames(), name) || slices.Contains(SDKEnvNames, name)
}

// EnvNames lists the environment variables LoadEnv reads, aliases included.
func EnvNames() []string {
	var c Config
	return envSet.Names(c.envFlags())
}

// envFlags binds every setting to a flag set used only for the
// environment: the command-line flags plus the settings that only the
// environment may give (secrets: a command line is visible to every user
// of the machine).
func (c *Config) envFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	c.registerFlags(fs)
	fs.StringVar(&c.WebhookSecrets, "webhooks.secrets", c.WebhookSecrets, "comma-separated webhook signing secrets, newest first")
	fs.StringVar(&c.AdminKey, "admin-key", c.AdminKey, "the operator's API key (tenant default, scope admin), at least 32 characters")
	fs.StringVar(&c.URLSigningKeys, "url-signing-keys", c.URLSigningKeys, "comma-separated base64url keys signing private images' URLs, newest first")
	return fs
}

// LoadEnv applies IMAGEPIPE_* variables; every bad value is reported, joined.
func (c *Config) LoadEnv(getenv func(string) string) error {
	return envSet.Apply(c.envFlags(), getenv)
}

// RegisterFlags binds the config to flags, the older names included; the
// current values are the defaults, so call LoadEnv first.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	own := flag.NewFlagSet("config", flag.ContinueOnError)
	c.registerFlags(own)
	envSet.Document(own) // only the config's flags have variables
	own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	for old, name := range flagAliases {
		fs.Var(own.Lookup(name).Value, old, "older name of -"+name)
	}
}

func (c *Config) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", c.Target, "what to run: "+strings.Join(TargetNames(), "|"))
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "REST listen address, gateway and all")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address")
	fs.StringVar(&c.OpsAddr, "ops-addr", c.OpsAddr, "ops listen address (/metrics, /healthz, /readyz, /debug/pprof/; keep it private); empty: none")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded stores")
	fs.StringVar(&c.OriginalsURL, "originals", c.OriginalsURL, "private originals store URL, e.g. file:///srv/imagepipe/originals")
	fs.StringVar(&c.VariantsURL, "variants", c.VariantsURL, "public variants store URL")
	fs.StringVar(&c.QueueURL, "queue", c.QueueURL, "job queue URL, e.g. sqlite:///srv/imagepipe/queue.db")
	fs.StringVar(&c.StatusURL, "status", c.StatusURL, "status store URL, e.g. sqlite:///srv/imagepipe/status.db")
	fs.StringVar(&c.EventsURL, "events", c.EventsURL, "webhooks' events queue URL; default: beside an embedded job queue")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL of variant URLs")
	fs.StringVar(&c.PresetsFile, "presets", c.PresetsFile, "JSON file of presets merged over the built-ins")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug|info|warn|error")
	fs.StringVar(&c.Auth, "auth", c.Auth, "on|off: off lets every call in without credentials (local experiments only)")
	fs.StringVar(&c.JWT.JWKS, "jwt.jwks", c.JWT.JWKS, "JWKS URL or file of the identity provider whose JWTs are accepted (RS256, ES256)")
	fs.StringVar(&c.JWT.Issuer, "jwt.issuer", c.JWT.Issuer, "required iss of JWTs")
	fs.StringVar(&c.JWT.Audience, "jwt.audience", c.JWT.Audience, "required aud of JWTs")
	fs.StringVar(&c.JWT.TenantClaim, "jwt.tenant-claim", c.JWT.TenantClaim, "JWT claim naming the caller's tenant")
	fs.StringVar(&c.JWT.ScopesClaim, "jwt.scopes-claim", c.JWT.ScopesClaim, "JWT claim with the caller's scopes (space-separated or a list)")
	fs.StringVar(&c.Gateway.OIDC.Issuer, "web.oidc-issuer", c.Gateway.OIDC.Issuer, "OpenID Connect issuer the web page signs in with; default: jwt.issuer")
	fs.StringVar(&c.Gateway.OIDC.ClientID, "web.oidc-client-id", c.Gateway.OIDC.ClientID, "the web page's client id at the OpenID Connect provider (a public client, PKCE); empty: no redirect sign-in")
	fs.StringVar(&c.Gateway.OIDC.Scopes, "web.oidc-scopes", c.Gateway.OIDC.Scopes, "space-separated scopes the web page asks the OpenID Connect provider for")
	fs.StringVar(&c.Gateway.OIDC.Audience, "web.oidc-audience", c.Gateway.OIDC.Audience, "audience parameter of the web page's sign-in, for providers that need it to mint an access token for jwt.audience")
	fs.BoolVar(&c.Reflection, "reflection", c.Reflection, "serve gRPC server reflection (for grpcurl)")
	fs.DurationVar(&c.SignedURLTTL, "signed-url-ttl", c.SignedURLTTL, "how long the signed URLs of a private image's record work")
	fs.StringVar(&c.IngestAddr, "gateway.ingest-addr", c.IngestAddr, "ingest service address the gateway dials")
	fs.StringVar(&c.StatusAddr, "gateway.status-addr", c.StatusAddr, "status service address the gateway dials")
	fs.StringVar(&c.ProcessorAddr, "gateway.processor-addr", c.ProcessorAddr, "processor service address the gateway dials")
	fs.StringVar(&c.WebhookURLs, "webhooks.urls", c.WebhookURLs, "comma-separated global webhook URLs, told about every event (signing secrets only from env IMAGEPIPE_WEBHOOKS_SECRETS)")
	fs.StringVar(&c.WebhookAllowNets, "webhooks.allow-nets", c.WebhookAllowNets, "comma-separated private CIDRs webhooks may call, e.g. 10.0.0.0/8")
	fs.IntVar(&c.Webhooks.MaxAttempts, "webhooks.max-attempts", c.Webhooks.MaxAttempts, "attempts per webhook delivery")
	fs.DurationVar(&c.Webhooks.Backoff, "webhooks.backoff", c.Webhooks.Backoff, "delay before a webhook's second attempt, doubling after")
	fs.DurationVar(&c.Webhooks.MaxBackoff, "webhooks.max-backoff", c.Webhooks.MaxBackoff, "longest delay between webhook attempts")
	fs.DurationVar(&c.Webhooks.Timeout, "webhooks.timeout", c.Webhooks.Timeout, "timeout of one webhook request")
	fs.IntVar(&c.Webhooks.Workers, "webhooks.workers", c.Webhooks.Workers, "webhook deliveries attempted at once")
	c.GRPC.RegisterFlags(fs)
	c.Limits.RegisterFlags(fs)
	c.Ingest.RegisterFlags(fs)
	c.Processor.RegisterFlags(fs)
	c.Status.RegisterFlags(fs)
	c.Gateway.RegisterFlags(fs)
}

// resolve fills the store URLs left empty with the embedded defaults.
func (c *Config) resolve() error {
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	def := func(field *string, v string) {
		if *field == "" {
			*field = v
		}
	}
	storeURL := func(scheme, name string, query url.Values) string {
		u := url.URL{Scheme: scheme, Path: filepath.ToSlash(filepath.Join(dir, name)), RawQuery: query.Encode()}
		return u.String()
	}
	def(&c.OriginalsURL, storeURL("file", "originals", nil))
	def(&c.VariantsURL, storeURL("file", "variants", nil))
	def(&c.QueueURL, storeURL("sqlite", "queue.db", url.Values{
		"name":        {"jobs"},
		"max_receive": {strconv.Itoa(c.Processor.MaxAttempts + 1)},
		"visibility":  {c.Processor.Visibility.String()},
	}))
	def(&c.StatusURL, storeURL("sqlite", "status.db", nil))
	if c.EventsURL == "" {
		c.EventsURL = eventsBeside(c.QueueURL)
	}
	c.Webhooks.URLs = webhooks.ParseList(c.WebhookURLs)
	c.Webhooks.Secrets = webhooks.ParseList(c.WebhookSecrets)
	nets, err := webhooks.ParseNets(c.WebhookAllowNets)
	if err != nil {
		return err
	}
	c.Webhooks.AllowNets = nets
	c.Processor.PublicURL = strings.TrimRight(c.PublicURL, "/")
	c.Gateway.PublicURL = c.Processor.PublicURL
	c.Gateway.MaxWait = c.Ingest.MaxWait
	if c.Gateway.OIDC.Issuer == "" {
		c.Gateway.OIDC.Issuer = c.JWT.Issuer
	}
	c.Processor.MaxOriginalBytes = c.Ingest.MaxBytes
	c.Processor.PresetsOnly = c.Ingest.PresetsOnly
	return nil
}

// eventsBeside returns the events queue URL next to an embedded job queue:
// the same SQLite file, queue "events", no dead-letter queue (deliveries
// count their own attempts). Other queues get none: IMAGEPIPE_EVENTS names it.
func eventsBeside(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil || u.Scheme != "sqlite" {
		return ""
	}
	u.RawQuery = url.Values{"name": {"events"}, "max_receive": {"0"}, "visibility": {"1m"}}.Encode()
	return u.String()
}

// webhooksOn reports whether webhooks run: whenever there is an events
// queue (always beside an embedded job queue). Who may use them is each
// tenant's affair: a callback URL needs its tenant's signing secret.
func (c *Config) webhooksOn() bool { return c.EventsURL != "" }

// AuthOff reports whether authentication is off (IMAGEPIPE_AUTH=off).
func (c *Config) AuthOff() bool { return c.Auth == "off" }

// Validate checks the whole config and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if _, ok := targets[c.Target]; !ok {
		errs = append(errs, fmt.Errorf("target %q: want one of %s", c.Target, strings.Join(TargetNames(), ", ")))
	}
	for name, addr := range map[string]string{"http-addr": c.HTTPAddr, "grpc-addr": c.GRPCAddr,
		"gateway.ingest-addr": c.IngestAddr, "gateway.status-addr": c.StatusAddr, "gateway.processor-addr": c.ProcessorAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", name, addr))
		}
	}
	if c.Webhooks.Enabled() && c.EventsURL == "" {
		errs = append(errs, errors.New("webhooks need an events queue: set IMAGEPIPE_EVENTS (e.g. sqs://imagepipe-events)"))
	}
	if c.EventsURL != "" && c.EventsURL == c.QueueURL {
		errs = append(errs, errors.New("events and job queue must differ"))
	}
	for name, raw := range map[string]string{"originals": c.OriginalsURL, "variants": c.VariantsURL, "queue": c.QueueURL, "status": c.StatusURL, "events": c.EventsURL} {
		if u, err := url.Parse(raw); raw != "" && (err != nil || u.Scheme == "") {
			errs = append(errs, fmt.Errorf("%s %q: want a store URL such as file:///path or sqlite:///path", name, raw))
		}
	}
	if c.OriginalsURL != "" && c.OriginalsURL == c.VariantsURL {
		errs = append(errs, errors.New("originals and variants must be different stores: originals are private"))
	}
	if c.Auth != "on" && c.Auth != "off" {
		errs = append(errs, fmt.Errorf("auth %q: want on or off", c.Auth))
	}
	if c.JWT.JWKS != "" {
		errs = append(errs, c.JWT.Validate())
	}
	errs = append(errs, c.validateOIDC())
	if c.URLSigningKeys == "" && !c.embeddedStatus() {
		errs = append(errs, errors.New("url-signing-keys: set IMAGEPIPE_URL_SIGNING_KEYS (the same on every target) when the status store is not the embedded one"))
	}
	if c.SignedURLTTL < time.Second || c.SignedURLTTL > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("signed-url-ttl %s: want 1s..168h", c.SignedURLTTL))
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.GRPC.Validate(), c.Limits.Validate(), c.Ingest.Validate(), c.Processor.Validate(), c.Status.Validate(), c.Gateway.Validate(), c.Webhooks.Validate())
	return errors.Join(errs...)
}

// validateOIDC checks the web page's redirect sign-in: the tokens it
// brings back are verified as JWTs, so JWT verification must be on.
func (c *Config) validateOIDC() error {
	o := c.Gateway.OIDC
	if !o.On() {
		return nil
	}
	var errs []error
	if c.JWT.JWKS == "" {
		errs = append(errs, errors.New("web.oidc-client-id: redirect sign-in needs JWT verification: set jwt.jwks (IMAGEPIPE_JWT_JWKS)"))
	}
	if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("web.oidc-issuer %q: want the provider's https:// issuer URL (IMAGEPIPE_WEB_OIDC_ISSUER, default jwt.issuer)", o.Issuer))
	}
	if !slices.Contains(strings.Fields(o.Scopes), "openid") {
		errs = append(errs, fmt.Errorf("web.oidc-scopes %q: must include openid", o.Scopes))
	}
	return errors.Join(errs...)
}

// FromArgs builds a config from the environment and command-line args.
func FromArgs(fs *flag.FlagSet, args []string) (Config, error) {
	cfg := DefaultConfig()
	if err := cfg.LoadEnv(os.Getenv); err != nil {
		return cfg, err
	}
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Verify checks a config without opening anything.
func Verify(cfg Config) error {
	if err := cfg.resolve(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}
