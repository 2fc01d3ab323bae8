package limits_test

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/limits"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := limits.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFlags(t *testing.T) {
	cfg := limits.DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"-limits.rps=10", "-limits.burst=20", "-limits.uploads-in-flight=8",
		"-limits.tenant-uploads-in-flight=2", "-limits.tenants=acme:rps=200,burst=400,uploads=32; globex:rps=0.5;",
		"-limits.max-backlog=5000", "-limits.ready-interval=250ms"})
	if err != nil {
		t.Fatal(err)
	}
	want := limits.Config{RPS: 10, Burst: 20, UploadsInFlight: 8, TenantUploadsInFlight: 2, Tenants: map[string]limits.TenantLimits{
		"acme": {RPS: 200, Burst: 400, Uploads: 32}, "globex": {RPS: 0.5}}, MaxBacklog: 5000, ReadyInterval: 250 * time.Millisecond}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("parsed %+v, want %+v", cfg, want)
	}
	if got := fs.Lookup("limits.tenants").Value.String(); got != "acme:rps=200,burst=400,uploads=32;globex:rps=0.5" {
		t.Errorf("limits.tenants reads back as %q", got)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseTenantsErrorsNameTenantAndKey(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"acme:rsp=5", []string{`tenant "acme"`, `"rsp"`, "rps, burst or uploads"}},
		{"acme:rps=fast", []string{`tenant "acme"`, `rps "fast"`}},
		{"acme:rps=0", []string{`tenant "acme"`, `rps "0"`}},
		{"acme:rps=-1", []string{`tenant "acme"`, `rps "-1"`}},
		{"acme:rps=NaN", []string{`tenant "acme"`, `rps "NaN"`}},
		{"ok:rps=1;globex:burst=1.5", []string{`tenant "globex"`, `burst "1.5"`}},
		{"globex:uploads=0", []string{`tenant "globex"`, `uploads "0"`}},
		{"globex:uploads", []string{`tenant "globex"`, "key=value"}},
		{"globex", []string{`tenant "globex"`, "tenant:key=value"}},
		{"Acme!:rps=1", []string{`tenant "Acme!"`, "not a tenant name"}},
		{"acme:rps=1;acme:burst=2", []string{`tenant "acme"`, "twice"}},
	} {
		t.Run(c.in, func(t *testing.T) {
			_, err := limits.ParseTenants(c.in)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Through the flag too: the flag package names the flag.
			cfg := limits.DefaultConfig()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(new(strings.Builder))
			cfg.RegisterFlags(fs)
			if err := fs.Parse([]string{"-limits.tenants=" + c.in}); err == nil || !strings.Contains(err.Error(), "limits.tenants") {
				t.Errorf("flag error %v does not name limits.tenants", err)
			}
		})
	}
}

func TestValidateNamesEverySetting(t *testing.T) {
	cfg := limits.Config{RPS: -1, Burst: 0, UploadsInFlight: -1, TenantUploadsInFlight: -2,
		Tenants: map[string]limits.TenantLimits{"acme": {Burst: -1}, "Bad Name": {}}, MaxBacklog: -1, ReadyInterval: time.Millisecond}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"limits.rps", "limits.uploads-in-flight", "limits.tenant-uploads-in-flight",
		`tenant "acme": burst`, `tenant "Bad Name"`, "limits.max-backlog", "limits.ready-interval 1ms"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if err := (limits.Config{RPS: 5}).Validate(); err == nil || !strings.Contains(err.Error(), "limits.burst") {
		t.Errorf("burst 0 with a rate: %v", err)
	}
	if err := (limits.Config{}).Validate(); err != nil {
		t.Errorf("every limit off: %v", err)
	}
}
