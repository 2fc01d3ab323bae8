// Package webhooks sends signed webhook events: image.ready, image.failed,
// image.deleted and batch.completed. The processor emits an event message
// onto the events queue when an image ends or is deleted (events.Emit); the
// dispatcher (Dispatcher.Run, in the status target) turns it into one
// delivery per endpoint in the delivery log (package deliveries), POSTs each
// signed as Standard Webhooks prescribe (webhook-id, webhook-timestamp,
// webhook-signature; see sign.go) with the secrets of the tenant that owns
// the delivery (Secrets), and retries failures with exponential backoff by
// delaying the delivery's queue message. Callback URLs are checked against
// private networks when they are accepted (Guard.CheckURL) and again when
// they are dialled, so DNS cannot swing them onto an internal address; a
// tenant may give one only once it has a secret (Secrets.CheckCallback).
package webhooks

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Config of webhook delivery.
type Config struct {
	// URLs are global endpoints, the operator's, told about every event
	// of every tenant. Their deliveries belong to the default tenant and
	// are signed with its secrets.
	URLs []string
	// Secrets are the default tenant's secrets, newest first, while the
	// tenant store holds none for it (see Secrets): they sign the global
	// URLs' deliveries and the default tenant's callbacks. Each secret
	// adds a v1 signature to webhook-signature, so a receiver holding any
	// one verifies. Each is "whsec_" + standard base64 of 24..64 bytes
	// (GenerateSecret makes one); at most two. Rotate by adding the new
	// secret first and dropping the old one once receivers switched.
	// Other tenants set their own (AdminService.RotateWebhookSecret).
	Secrets []string
	// AllowNets are networks callbacks may reach although they are private,
	// loopback or link-local (e.g. 127.0.0.0/8 for tests, 10.0.0.0/8 for an
	// internal receiver).
	AllowNets []netip.Prefix
	// MaxAttempts per delivery before it is FAILED.
	MaxAttempts int
	// Backoff before the second attempt; doubles per attempt up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Timeout of one POST, connection included.
	Timeout time.Duration
	// Workers is how many deliveries are attempted at once.
	Workers int
}

// DefaultConfig: 12 attempts over about 3.5 hours.
func DefaultConfig() Config {
	return Config{MaxAttempts: 12, Backoff: 10 * time.Second, MaxBackoff: time.Hour, Timeout: 10 * time.Second, Workers: 4}
}

// Enabled reports whether the operator configured webhooks of its own:
// global URLs or the default tenant's secrets. Those need an events queue.
//
// It no longer says whether webhooks run: with per-tenant secrets the
// dispatcher runs wherever there is an events queue, Enabled or not, and
// a tenant's callback URL is accepted once that tenant has a secret
// (Secrets.CheckCallback), whatever this config holds.
func (c Config) Enabled() bool { return len(c.Secrets) > 0 || len(c.URLs) > 0 }

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for _, u := range c.URLs {
		if err := checkSyntax(u); err != nil {
			errs = append(errs, fmt.Errorf("webhook URL %q: %w", u, err))
		}
	}
	if len(c.URLs) > 0 && len(c.Secrets) == 0 {
		errs = append(errs, errors.New("webhook URLs need a signing secret (IMAGEPIPE_WEBHOOKS_SECRETS): they are the operator's and signed with its secrets"))
	}
	if len(c.Secrets) > 2 {
		errs = append(errs, fmt.Errorf("webhook secrets: at most 2 (current and previous), got %d", len(c.Secrets)))
	}
	for i, s := range c.Secrets {
		if err := ValidateSecret(s); err != nil {
			errs = append(errs, fmt.Errorf("webhook secret %d: %w", i+1, err))
		}
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("webhook max attempts %d: want 1..100", c.MaxAttempts))
	}
	if c.Backoff <= 0 || c.MaxBackoff < c.Backoff || c.MaxBackoff > 12*time.Hour {
		errs = append(errs, fmt.Errorf("webhook backoff %s..%s: want 0 < backoff <= max backoff <= 12h", c.Backoff, c.MaxBackoff))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("webhook timeout must be positive"))
	}
	if c.Workers < 1 {
		errs = append(errs, errors.New("webhook workers must be at least 1"))
	}
	return errors.Join(errs...)
}

// ParseList splits a comma-separated setting, dropping blanks.
func ParseList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseNets parses comma-separated CIDRs ("127.0.0.0/8,::1/128").
func ParseNets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range ParseList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("webhook allowed network %q: want a CIDR such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// MaxURLBytes bounds a callback URL.
const MaxURLBytes = 2048

// checkSyntax accepts absolute http(s) URLs with a host and no user info.
func checkSyntax(raw string) error {
	if len(raw) > MaxURLBytes {
		return fmt.Errorf("longer than %d bytes", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("user info is not allowed")
	case u.Fragment != "":
		return errors.New("a fragment is not allowed")
	}
	return nil
}
