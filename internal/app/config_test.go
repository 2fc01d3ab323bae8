package app_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
)

func TestLoadEnvReportsEveryBadValue(t *testing.T) {
	cfg := app.DefaultConfig()
	env := map[string]string{
		"IMAGEPIPE_WORKERS":          "many",
		"IMAGEPIPE_DEFAULT_WAIT":     "a while",
		"IMAGEPIPE_MAX_UPLOAD_BYTES": "1024",
		"IMAGEPIPE_TARGET":           "status",
	}
	err := cfg.LoadEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "IMAGEPIPE_WORKERS") || !strings.Contains(err.Error(), "IMAGEPIPE_DEFAULT_WAIT") {
		t.Fatalf("LoadEnv = %v, want both bad variables named", err)
	}
	if cfg.Ingest.MaxBytes != 1024 || cfg.Target != "status" {
		t.Errorf("good values not applied: max bytes %d, target %q", cfg.Ingest.MaxBytes, cfg.Target)
	}
}

func TestVerifyRejectsBadConfig(t *testing.T) {
	cases := map[string]func(c *app.Config){
		"unknown target":           func(c *app.Config) { c.Target = "everything" },
		"bad address":              func(c *app.Config) { c.GRPCAddr = "9090" },
		"same originals/variants":  func(c *app.Config) { c.OriginalsURL = "file:///x"; c.VariantsURL = "file:///x" },
		"store URL without scheme": func(c *app.Config) { c.QueueURL = "/var/lib/queue.db" },
		"zero workers":             func(c *app.Config) { c.Processor.Workers = 0 },
		"bad public URL":           func(c *app.Config) { c.PublicURL = "cdn.example.com" },
		"bad log level":            func(c *app.Config) { c.LogLevel = "chatty" },
		"auth neither on nor off":  func(c *app.Config) { c.Auth = "maybe" },
		"no signing keys off the embedded default": func(c *app.Config) {
			c.StatusURL = "dynamodb://images"
		},
		"signed URLs for a year": func(c *app.Config) { c.SignedURLTTL = 365 * 24 * time.Hour },
		"JWKS without audience":  func(c *app.Config) { c.JWT.JWKS = "/etc/jwks.json"; c.JWT.Issuer = "https://id.example.com/" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := app.DefaultConfig()
			mut(&cfg)
			if err := app.Verify(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	if err := app.Verify(app.DefaultConfig()); err != nil {
		t.Errorf("default config refused: %v", err)
	}
}

func TestQueueRedriveMustMatchMaxAttempts(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.QueueURL = "sqlite://" + filepath.Join(cfg.DataDir, "q.db") + "?max_receive=3"
	_, err := app.New(t.Context(), cfg, logging.New(io.Discard, "error"))
	if err == nil || !strings.Contains(err.Error(), "max_receive=4") {
		t.Fatalf("New = %v, want a refusal naming max_receive=4", err)
	}
	cfg.QueueURL = "sqlite://" + filepath.Join(cfg.DataDir, "q.db") + "?max_receive=4"
	a, err := app.New(t.Context(), cfg, logging.New(io.Discard, "error"))
	if err != nil {
		t.Fatalf("matching queue refused: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a.Run(ctx)
}

// Every variable and flag of earlier releases still sets its setting, and
// every flag has a variable by the one naming rule.
func TestOlderNamesStillWork(t *testing.T) {
	cases := []struct {
		env, flag, value string
		got              func(c app.Config) string
	}{
		{"IMAGEPIPE_WORKERS", "", "3", func(c app.Config) string { return fmt.Sprint(c.Processor.Workers) }},
		{"IMAGEPIPE_JOB_THREADS", "", "2", func(c app.Config) string { return fmt.Sprint(c.Processor.JobThreads) }},
		{"IMAGEPIPE_MAX_ATTEMPTS", "", "5", func(c app.Config) string { return fmt.Sprint(c.Processor.MaxAttempts) }},
		{"IMAGEPIPE_MAX_UPLOAD_BYTES", "", "1024", func(c app.Config) string { return fmt.Sprint(c.Ingest.MaxBytes) }},
		{"IMAGEPIPE_DEFAULT_WAIT", "", "3s", func(c app.Config) string { return c.Gateway.DefaultWait.String() }},
		{"IMAGEPIPE_INGEST_ADDR", "ingest-addr", "ingest:1", func(c app.Config) string { return c.IngestAddr }},
		{"IMAGEPIPE_STATUS_ADDR", "status-addr", "status:1", func(c app.Config) string { return c.StatusAddr }},
		{"IMAGEPIPE_PROCESSOR_ADDR", "processor-addr", "proc:1", func(c app.Config) string { return c.ProcessorAddr }},
		{"IMAGEPIPE_WEBHOOK_URLS", "webhook-urls", "https://example.com/h", func(c app.Config) string { return c.WebhookURLs }},
		{"IMAGEPIPE_WEBHOOK_SECRETS", "", "s3cret", func(c app.Config) string { return c.WebhookSecrets }},
		{"IMAGEPIPE_WEBHOOK_ALLOW_NETS", "webhook-allow-nets", "10.0.0.0/8", func(c app.Config) string { return c.WebhookAllowNets }},
		{"IMAGEPIPE_WEBHOOK_MAX_ATTEMPTS", "webhook-max-attempts", "4", func(c app.Config) string { return fmt.Sprint(c.Webhooks.MaxAttempts) }},
		{"IMAGEPIPE_WEBHOOK_BACKOFF", "webhook-backoff", "2s", func(c app.Config) string { return c.Webhooks.Backoff.String() }},
		{"IMAGEPIPE_WEBHOOK_MAX_BACKOFF", "webhook-max-backoff", "1m0s", func(c app.Config) string { return c.Webhooks.MaxBackoff.String() }},
		{"IMAGEPIPE_WEBHOOK_TIMEOUT", "webhook-timeout", "7s", func(c app.Config) string { return c.Webhooks.Timeout.String() }},
		{"IMAGEPIPE_STATUS", "status", "sqlite:///tmp/s.db", func(c app.Config) string { return c.StatusURL }},
		{"IMAGEPIPE_ORIGINALS", "originals", "file:///tmp/o", func(c app.Config) string { return c.OriginalsURL }},
		{"IMAGEPIPE_TARGET", "target", "status", func(c app.Config) string { return c.Target }},
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			cfg := app.DefaultConfig()
			if err := cfg.LoadEnv(func(k string) string { return map[string]string{c.env: c.value}[k] }); err != nil {
				t.Fatal(err)
			}
			if got := c.got(cfg); got != c.value {
				t.Errorf("env %s=%s set %q", c.env, c.value, got)
			}
			if !slices.Contains(app.EnvNames(), c.env) {
				t.Errorf("EnvNames lacks %s", c.env)
			}
			if c.flag == "" {
				return
			}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			got, err := app.FromArgs(fs, []string{"-" + c.flag + "=" + c.value})
			if err != nil {
				t.Fatal(err)
			}
			if c.got(got) != c.value {
				t.Errorf("flag -%s=%s set %q", c.flag, c.value, c.got(got))
			}
		})
	}
}

// Each flag has a variable named by the rule, and -h says which.
func TestEveryFlagHasAVariable(t *testing.T) {
	cfg := app.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	names := app.EnvNames()
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "older name of -") {
			return
		}
		env := "IMAGEPIPE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(f.Name))
		if !slices.Contains(names, env) || !strings.Contains(f.Usage, "(env "+env) {
			t.Errorf("-%s: variable %s missing or undocumented (usage %q)", f.Name, env, f.Usage)
		}
	})
}

// The web page's redirect sign-in brings back JWTs, so it needs JWT
// verification; the issuer defaults to jwt.issuer.
func TestWebOIDCNeedsJWTVerification(t *testing.T) {
	jwt := map[string]string{"IMAGEPIPE_JWT_JWKS": "https://idp.example.com/jwks", "IMAGEPIPE_JWT_ISSUER": "https://idp.example.com", "IMAGEPIPE_JWT_AUDIENCE": "imagepipe"}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" for none
	}{
		{"off", map[string]string{}, ""},
		{"client id, no JWT verification", map[string]string{"IMAGEPIPE_WEB_OIDC_CLIENT_ID": "web", "IMAGEPIPE_WEB_OIDC_ISSUER": "https://idp.example.com"}, "web.oidc-client-id"},
		{"issuer from jwt.issuer", merge(jwt, map[string]string{"IMAGEPIPE_WEB_OIDC_CLIENT_ID": "web"}), ""},
		{"no issuer at all", map[string]string{"IMAGEPIPE_WEB_OIDC_CLIENT_ID": "web", "IMAGEPIPE_JWT_JWKS": "https://idp.example.com/jwks", "IMAGEPIPE_JWT_AUDIENCE": "imagepipe"}, "web.oidc-issuer"},
		{"scopes without openid", merge(jwt, map[string]string{"IMAGEPIPE_WEB_OIDC_CLIENT_ID": "web", "IMAGEPIPE_WEB_OIDC_SCOPES": "profile"}), "web.oidc-scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := app.DefaultConfig()
			cfg.DataDir = t.TempDir()
			if err := cfg.LoadEnv(func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			err := app.Verify(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Verify = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Verify = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}
