// Package limits keeps any one tenant, and the process as a whole, from
// taking more than a fair share: requests per second per tenant (a token
// bucket) and uploads in flight per tenant and per process. Over a limit a
// call fails with RESOURCE_EXHAUSTED and a retry delay (HTTP 429 with
// Retry-After at the gateway).
package limits

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
)

// Config is the limits' settings. A zero RPS or cap turns that limit off.
type Config struct {
	// RPS is each tenant's sustained requests per second; Burst how many
	// it may make at once after being idle. 0 RPS: no rate limit.
	RPS   float64
	Burst int
	// UploadsInFlight caps the Upload streams open at once in this
	// process, every tenant together; 0: no cap.
	UploadsInFlight int
	// TenantUploadsInFlight caps one tenant's Upload streams open at
	// once in this process; 0: no cap.
	TenantUploadsInFlight int
	// Tenants override RPS, Burst and TenantUploadsInFlight per tenant.
	Tenants map[string]TenantLimits

	// MaxBacklog is how many jobs may wait in the job queue before the
	// processor reports itself saturated (not ready); 0: never. The queue
	// is shared, so every processor (and every gateway's /readyz) says so
	// at once: off by default, see ARCHITECTURE.md "Limits".
	MaxBacklog int64
	// ReadyInterval is how often readiness is checked (a job queue's
	// counts read, the uploads in flight looked at); 0:
	// DefaultReadyInterval.
	ReadyInterval time.Duration
}

// DefaultReadyInterval is the default Config.ReadyInterval.
const DefaultReadyInterval = 5 * time.Second

// ReadyEvery is how often readiness is checked.
func (c Config) ReadyEvery() time.Duration {
	if c.ReadyInterval == 0 {
		return DefaultReadyInterval
	}
	return c.ReadyInterval
}

// TenantLimits are one tenant's overrides; a zero field keeps the default.
type TenantLimits struct {
	RPS     float64
	Burst   int
	Uploads int
}

// DefaultConfig protects a small (2-core) machine: 50 requests per
// second per tenant with bursts of 100, 64 uploads in flight per process
// and 16 per tenant; readiness checked every 5 s, without a backlog
// limit.
func DefaultConfig() Config {
	return Config{RPS: 50, Burst: 100, UploadsInFlight: 64, TenantUploadsInFlight: 16, ReadyInterval: DefaultReadyInterval}
}

// MinReadyInterval is the shortest Config.ReadyInterval.
const MinReadyInterval = 50 * time.Millisecond

// RegisterFlags binds the config to flags named limits.*, keeping the
// current values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.RPS, "limits.rps", c.RPS, "requests per second each tenant may make, sustained; 0 no limit")
	fs.IntVar(&c.Burst, "limits.burst", c.Burst, "requests a tenant may make at once after being idle")
	fs.IntVar(&c.UploadsInFlight, "limits.uploads-in-flight", c.UploadsInFlight, "uploads open at once in this process, all tenants together; 0 no cap")
	fs.IntVar(&c.TenantUploadsInFlight, "limits.tenant-uploads-in-flight", c.TenantUploadsInFlight, "uploads one tenant may have open at once in this process; 0 no cap")
	fs.Var((*tenantsValue)(&c.Tenants), "limits.tenants", "per-tenant overrides, e.g. acme:rps=200,burst=400,uploads=32;globex:rps=5")
	fs.Int64Var(&c.MaxBacklog, "limits.max-backlog", c.MaxBacklog, "jobs waiting in the queue beyond which the processor is not ready (/readyz 503); 0 never")
	fs.DurationVar(&c.ReadyInterval, "limits.ready-interval", c.ReadyInterval, "how often readiness (uploads in flight, the job backlog) is checked")
}

// Validate reports every bad setting, naming it.
func (c Config) Validate() error {
	var errs []error
	if !(c.RPS >= 0) || math.IsInf(c.RPS, 0) {
		errs = append(errs, fmt.Errorf("limits.rps %v: want a number >= 0 (0: no limit)", c.RPS))
	}
	if c.RPS > 0 && c.Burst < 1 {
		errs = append(errs, fmt.Errorf("limits.burst %d: want at least 1", c.Burst))
	}
	if c.UploadsInFlight < 0 {
		errs = append(errs, fmt.Errorf("limits.uploads-in-flight %d: want >= 0 (0: no cap)", c.UploadsInFlight))
	}
	if c.TenantUploadsInFlight < 0 {
		errs = append(errs, fmt.Errorf("limits.tenant-uploads-in-flight %d: want >= 0 (0: no cap)", c.TenantUploadsInFlight))
	}
	if c.MaxBacklog < 0 {
		errs = append(errs, fmt.Errorf("limits.max-backlog %d: want >= 0 (0: no limit)", c.MaxBacklog))
	}
	if c.ReadyInterval != 0 && (c.ReadyInterval < MinReadyInterval || c.ReadyInterval > time.Hour) {
		errs = append(errs, fmt.Errorf("limits.ready-interval %s: want %s..1h", c.ReadyInterval, MinReadyInterval))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tenants)) {
		if err := c.Tenants[name].validate(name); err != nil {
			errs = append(errs, fmt.Errorf("limits.tenants: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (t TenantLimits) validate(tenant string) error {
	var errs []error
	if !auth.ValidTenant(tenant) {
		errs = append(errs, fmt.Errorf("tenant %q: not a tenant name (1..63 of [a-z0-9_-])", tenant))
	}
	if !(t.RPS >= 0) || math.IsInf(t.RPS, 0) {
		errs = append(errs, fmt.Errorf("tenant %q: rps %v: want a number > 0", tenant, t.RPS))
	}
	if t.Burst < 0 {
		errs = append(errs, fmt.Errorf("tenant %q: burst %d: want a whole number > 0", tenant, t.Burst))
	}
	if t.Uploads < 0 {
		errs = append(errs, fmt.Errorf("tenant %q: uploads %d: want a whole number > 0", tenant, t.Uploads))
	}
	return errors.Join(errs...)
}

// ParseTenants parses per-tenant overrides: "tenant:key=value,...;..."
// with keys rps, burst and uploads, e.g.
// "acme:rps=200,burst=400,uploads=32;globex:rps=5". Errors name the
// tenant and key at fault.
func ParseTenants(s string) (map[string]TenantLimits, error) {
	out := map[string]TenantLimits{}
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, settings, ok := strings.Cut(entry, ":")
		name = strings.TrimSpace(name)
		if !ok || strings.TrimSpace(settings) == "" {
			return nil, fmt.Errorf("tenant %q: want tenant:key=value,... (keys rps, burst, uploads)", name)
		}
		if !auth.ValidTenant(name) {
			return nil, fmt.Errorf("tenant %q: not a tenant name (1..63 of [a-z0-9_-])", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("tenant %q: given twice", name)
		}
		var t TenantLimits
		for kv := range strings.SplitSeq(settings, ",") {
			key, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			if !ok {
				return nil, fmt.Errorf("tenant %q: %q: want key=value (keys rps, burst, uploads)", name, kv)
			}
			switch key {
			case "rps":
				f, err := strconv.ParseFloat(val, 64)
				if err != nil || !(f > 0) || math.IsInf(f, 0) {
					return nil, fmt.Errorf("tenant %q: rps %q: want a number > 0", name, val)
				}
				t.RPS = f
			case "burst", "uploads":
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					return nil, fmt.Errorf("tenant %q: %s %q: want a whole number > 0", name, key, val)
				}
				if key == "burst" {
					t.Burst = n
				} else {
					t.Uploads = n
				}
			default:
				return nil, fmt.Errorf("tenant %q: unknown key %q: want rps, burst or uploads", name, key)
			}
		}
		out[name] = t
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// FormatTenants is the inverse of ParseTenants, tenants in name order.
func FormatTenants(m map[string]TenantLimits) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(m)) {
		t := m[name]
		var kv []string
		if t.RPS != 0 {
			kv = append(kv, "rps="+strconv.FormatFloat(t.RPS, 'g', -1, 64))
		}
		if t.Burst != 0 {
			kv = append(kv, "burst="+strconv.Itoa(t.Burst))
		}
		if t.Uploads != 0 {
			kv = append(kv, "uploads="+strconv.Itoa(t.Uploads))
		}
		if len(kv) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(name + ":" + strings.Join(kv, ","))
	}
	return b.String()
}

// tenantsValue is the flag.Value of Config.Tenants.
type tenantsValue map[string]TenantLimits

func (v *tenantsValue) String() string {
	if v == nil {
		return ""
	}
	return FormatTenants(*v)
}

func (v *tenantsValue) Set(s string) error {
	m, err := ParseTenants(s)
	if err != nil {
		return err
	}
	*v = m
	return nil
}
