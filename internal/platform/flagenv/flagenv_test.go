package flagenv_test

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/flagenv"
)

type settings struct {
	target  string
	workers int
	wait    time.Duration
}

func newFlags(s *settings) *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.StringVar(&s.target, "target", "all", "")
	fs.IntVar(&s.workers, "processor.workers", 1, "")
	fs.DurationVar(&s.wait, "gateway.default-wait", time.Second, "")
	return fs
}

var set = flagenv.Set{Prefix: "APP", Aliases: map[string]string{"APP_WORKERS": "processor.workers"}}

func TestName(t *testing.T) {
	for flagName, want := range map[string]string{
		"target":               "APP_TARGET",
		"processor.workers":    "APP_PROCESSOR_WORKERS",
		"gateway.default-wait": "APP_GATEWAY_DEFAULT_WAIT",
	} {
		if got := set.Name(flagName); got != want {
			t.Errorf("Name(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestApply(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    settings
		wantErr []string // variable names the error must name
	}{
		{"nothing set keeps defaults", nil, settings{"all", 1, time.Second}, nil},
		{"own names", map[string]string{"APP_TARGET": "status", "APP_PROCESSOR_WORKERS": "4", "APP_GATEWAY_DEFAULT_WAIT": "3s"},
			settings{"status", 4, 3 * time.Second}, nil},
		{"alias", map[string]string{"APP_WORKERS": "7"}, settings{"all", 7, time.Second}, nil},
		{"own name beats alias", map[string]string{"APP_WORKERS": "7", "APP_PROCESSOR_WORKERS": "2"}, settings{"all", 2, time.Second}, nil},
		{"every bad value reported", map[string]string{"APP_WORKERS": "many", "APP_GATEWAY_DEFAULT_WAIT": "a while", "APP_TARGET": "ingest"},
			settings{"ingest", 1, time.Second}, []string{"APP_WORKERS", "not an integer", "APP_GATEWAY_DEFAULT_WAIT", "not a duration"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s settings
			fs := newFlags(&s)
			err := set.Apply(fs, func(k string) string { return c.env[k] })
			for _, w := range c.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not mention %q", err, w)
				}
			}
			if c.wantErr == nil && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
			if s != c.want {
				t.Errorf("got %+v, want %+v", s, c.want)
			}
		})
	}
}

func TestNamesAndDocument(t *testing.T) {
	var s settings
	fs := newFlags(&s)
	want := []string{"APP_GATEWAY_DEFAULT_WAIT", "APP_PROCESSOR_WORKERS", "APP_TARGET", "APP_WORKERS"}
	if got := set.Names(fs); !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	set.Document(fs)
	if u := fs.Lookup("processor.workers").Usage; !strings.Contains(u, "env APP_PROCESSOR_WORKERS, or the older APP_WORKERS") {
		t.Errorf("usage %q does not document the variable and its alias", u)
	}
}
