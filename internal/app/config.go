package app

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

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
		Ingest:        ingest.DefaultConfig(),
		Processor:     processor.DefaultConfig(),
		Status:        status.DefaultConfig(),
		Gateway:       gateway.DefaultConfig(),
		Webhooks:      webhooks.DefaultConfig(),
	}
}

// envVars maps each environment variable onto the field it sets.
func (c *Config) envVars() map[string]any {
	return map[string]any{
		"IMAGEPIPE_TARGET":           &c.Target,
		"IMAGEPIPE_HTTP_ADDR":        &c.HTTPAddr,
		"IMAGEPIPE_GRPC_ADDR":        &c.GRPCAddr,
		"IMAGEPIPE_DATA_DIR":         &c.DataDir,
		"IMAGEPIPE_ORIGINALS":        &c.OriginalsURL,
		"IMAGEPIPE_VARIANTS":         &c.VariantsURL,
		"IMAGEPIPE_QUEUE":            &c.QueueURL,
		"IMAGEPIPE_STATUS":           &c.StatusURL,
		"IMAGEPIPE_PUBLIC_URL":       &c.PublicURL,
		"IMAGEPIPE_INGEST_ADDR":      &c.IngestAddr,
		"IMAGEPIPE_STATUS_ADDR":      &c.StatusAddr,
		"IMAGEPIPE_PROCESSOR_ADDR":   &c.ProcessorAddr,
		"IMAGEPIPE_LOG_LEVEL":        &c.LogLevel,
		"IMAGEPIPE_PRESETS":          &c.PresetsFile,
		"IMAGEPIPE_WORKERS":          &c.Processor.Workers,
		"IMAGEPIPE_JOB_THREADS":      &c.Processor.JobThreads,
		"IMAGEPIPE_MAX_ATTEMPTS":     &c.Processor.MaxAttempts,
		"IMAGEPIPE_MAX_UPLOAD_BYTES": &c.Ingest.MaxBytes,
		"IMAGEPIPE_DEFAULT_WAIT":     &c.Gateway.DefaultWait,
		"IMAGEPIPE_EVENTS":           &c.EventsURL,

		"IMAGEPIPE_WEBHOOK_URLS":         &c.WebhookURLs,
		"IMAGEPIPE_WEBHOOK_SECRETS":      &c.WebhookSecrets,
		"IMAGEPIPE_WEBHOOK_ALLOW_NETS":   &c.WebhookAllowNets,
		"IMAGEPIPE_WEBHOOK_MAX_ATTEMPTS": &c.Webhooks.MaxAttempts,
		"IMAGEPIPE_WEBHOOK_BACKOFF":      &c.Webhooks.Backoff,
		"IMAGEPIPE_WEBHOOK_MAX_BACKOFF":  &c.Webhooks.MaxBackoff,
		"IMAGEPIPE_WEBHOOK_TIMEOUT":      &c.Webhooks.Timeout,
	}
}

// EnvNames lists the environment variables LoadEnv reads.
func EnvNames() []string {
	var c Config
	names := make([]string, 0, len(c.envVars()))
	for k := range c.envVars() {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// LoadEnv applies IMAGEPIPE_* variables; every bad value is reported, joined.
func (c *Config) LoadEnv(getenv func(string) string) error {
	var errs []error
	for name, field := range c.envVars() {
		v := getenv(name)
		if v == "" {
			continue
		}
		switch f := field.(type) {
		case *string:
			*f = v
		case *int:
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not an integer", name, v))
			}
			*f = n
		case *int64:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not an integer", name, v))
			}
			*f = n
		case *time.Duration:
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a duration (e.g. 5s)", name, v))
			}
			*f = d
		}
	}
	return errors.Join(errs...)
}

// RegisterFlags binds the config to flags; current values are the defaults,
// so call LoadEnv first.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", c.Target, "what to run: "+strings.Join(TargetNames(), "|")+" (env IMAGEPIPE_TARGET)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "REST listen address, gateway and all (env IMAGEPIPE_HTTP_ADDR)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address (env IMAGEPIPE_GRPC_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded stores (env IMAGEPIPE_DATA_DIR)")
	fs.StringVar(&c.OriginalsURL, "originals", c.OriginalsURL, "private originals store URL, e.g. file:///srv/imagepipe/originals (env IMAGEPIPE_ORIGINALS)")
	fs.StringVar(&c.VariantsURL, "variants", c.VariantsURL, "public variants store URL (env IMAGEPIPE_VARIANTS)")
	fs.StringVar(&c.QueueURL, "queue", c.QueueURL, "job queue URL, e.g. sqlite:///srv/imagepipe/queue.db (env IMAGEPIPE_QUEUE)")
	fs.StringVar(&c.StatusURL, "status", c.StatusURL, "status store URL, e.g. sqlite:///srv/imagepipe/status.db (env IMAGEPIPE_STATUS)")
	fs.StringVar(&c.EventsURL, "events", c.EventsURL, "webhooks' events queue URL; default: beside an embedded job queue (env IMAGEPIPE_EVENTS)")
	fs.StringVar(&c.WebhookURLs, "webhook-urls", c.WebhookURLs, "comma-separated global webhook URLs, told about every event (env IMAGEPIPE_WEBHOOK_URLS; signing secrets only from env IMAGEPIPE_WEBHOOK_SECRETS)")
	fs.StringVar(&c.WebhookAllowNets, "webhook-allow-nets", c.WebhookAllowNets, "comma-separated private CIDRs webhooks may call, e.g. 10.0.0.0/8 (env IMAGEPIPE_WEBHOOK_ALLOW_NETS)")
	fs.IntVar(&c.Webhooks.MaxAttempts, "webhook-max-attempts", c.Webhooks.MaxAttempts, "attempts per webhook delivery (env IMAGEPIPE_WEBHOOK_MAX_ATTEMPTS)")
	fs.DurationVar(&c.Webhooks.Backoff, "webhook-backoff", c.Webhooks.Backoff, "delay before a webhook's second attempt, doubling after (env IMAGEPIPE_WEBHOOK_BACKOFF)")
	fs.DurationVar(&c.Webhooks.MaxBackoff, "webhook-max-backoff", c.Webhooks.MaxBackoff, "longest delay between webhook attempts (env IMAGEPIPE_WEBHOOK_MAX_BACKOFF)")
	fs.DurationVar(&c.Webhooks.Timeout, "webhook-timeout", c.Webhooks.Timeout, "timeout of one webhook request (env IMAGEPIPE_WEBHOOK_TIMEOUT)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base URL of variant URLs (env IMAGEPIPE_PUBLIC_URL)")
	fs.StringVar(&c.IngestAddr, "ingest-addr", c.IngestAddr, "ingest service address the gateway dials (env IMAGEPIPE_INGEST_ADDR)")
	fs.StringVar(&c.StatusAddr, "status-addr", c.StatusAddr, "status service address the gateway dials (env IMAGEPIPE_STATUS_ADDR)")
	fs.StringVar(&c.ProcessorAddr, "processor-addr", c.ProcessorAddr, "processor service address the gateway dials (env IMAGEPIPE_PROCESSOR_ADDR)")
	fs.StringVar(&c.PresetsFile, "presets", c.PresetsFile, "JSON file of presets merged over the built-ins (env IMAGEPIPE_PRESETS)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug|info|warn|error (env IMAGEPIPE_LOG_LEVEL)")
	c.Ingest.RegisterFlags(fs)
	c.Processor.RegisterFlags(fs)
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
	c.Gateway.MaxWait = c.Ingest.MaxWait
	c.Processor.MaxOriginalBytes = c.Ingest.MaxBytes
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

// Validate checks the whole config and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if _, ok := targets[c.Target]; !ok {
		errs = append(errs, fmt.Errorf("target %q: want one of %s", c.Target, strings.Join(TargetNames(), ", ")))
	}
	for name, addr := range map[string]string{"http-addr": c.HTTPAddr, "grpc-addr": c.GRPCAddr,
		"ingest-addr": c.IngestAddr, "status-addr": c.StatusAddr, "processor-addr": c.ProcessorAddr} {
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
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Ingest.Validate(), c.Processor.Validate(), c.Gateway.Validate(), c.Webhooks.Validate())
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
