package app_test

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/limits"
)

// The fair limits are set by limits.* flags and IMAGEPIPE_LIMITS_*
// variables, and checked with the rest of the config.
func TestLimitsFlagsAndEnv(t *testing.T) {
	cfg := app.DefaultConfig()
	if !reflect.DeepEqual(cfg.Limits, limits.DefaultConfig()) {
		t.Errorf("default limits %+v, want limits.DefaultConfig()", cfg.Limits)
	}
	env := map[string]string{
		"IMAGEPIPE_LIMITS_RPS":         "20",
		"IMAGEPIPE_LIMITS_TENANTS":     "acme:rps=200,burst=400,uploads=32",
		"IMAGEPIPE_LIMITS_MAX_BACKLOG": "5000",
	}
	if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-limits.burst=40", "-limits.uploads-in-flight=8", "-limits.tenant-uploads-in-flight=4", "-limits.ready-interval=1s"}); err != nil {
		t.Fatal(err)
	}
	want := limits.Config{RPS: 20, Burst: 40, UploadsInFlight: 8, TenantUploadsInFlight: 4,
		Tenants: map[string]limits.TenantLimits{"acme": {RPS: 200, Burst: 400, Uploads: 32}}, MaxBacklog: 5000, ReadyInterval: time.Second}
	if !reflect.DeepEqual(cfg.Limits, want) {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, want)
	}
	if err := app.Verify(cfg); err != nil {
		t.Error(err)
	}

	bad := app.DefaultConfig()
	err := bad.LoadEnv(func(k string) string {
		if k == "IMAGEPIPE_LIMITS_TENANTS" {
			return "acme:rps=fast"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "IMAGEPIPE_LIMITS_TENANTS") || !strings.Contains(err.Error(), `tenant "acme"`) {
		t.Errorf("bad IMAGEPIPE_LIMITS_TENANTS: %v, want the variable and tenant named", err)
	}
	bad = app.DefaultConfig()
	bad.Limits.UploadsInFlight = -1
	if err := app.Verify(bad); err == nil || !strings.Contains(err.Error(), "limits.uploads-in-flight") {
		t.Errorf("Verify = %v, want limits.uploads-in-flight named", err)
	}
}
