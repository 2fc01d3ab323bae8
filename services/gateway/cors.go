package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/imagepipe/imagepipe/internal/platform/trace"
	"github.com/rs/cors"
)

// CORS: off unless Config.CORSOrigins names origins; then exactly those may
// call the API from a browser. Credentials are bearer tokens the page sends
// itself (no cookies), so there is no credentials mode.
var (
	corsMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}
	// The request headers the gateway reads that a page may not send
	// without asking (Accept is always allowed).
	corsHeaders = []string{headerAuthorization, "Content-Type", "Idempotency-Key", "Last-Event-ID", trace.Header, "tracestate"}
	// The response headers a page may read besides the always-readable
	// ones (Content-Type, Content-Length, Cache-Control, Last-Modified...).
	corsExposed = []string{"Location", "ETag", "WWW-Authenticate"}
)

// corsMaxAge is how long (seconds) a browser may reuse a preflight answer.
const corsMaxAge = 600

func newCORS(origins []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: corsMethods,
		AllowedHeaders: corsHeaders,
		ExposedHeaders: corsExposed,
		MaxAge:         corsMaxAge,
	})
}

// checkOrigin reports why o is not an origin a browser sends:
// scheme://host[:port], http or https, nothing after, no default port. A
// wildcard is refused: "*" would let every web page use the API with
// whatever key it holds, and a pattern is easy to get too wide.
func checkOrigin(o string) error {
	if strings.Contains(o, "*") {
		return fmt.Errorf("%q: wildcards are not allowed; list each origin (scheme://host[:port])", o)
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q: want scheme://host[:port] with scheme http or https", o)
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(o, "#") {
		return fmt.Errorf("%q: an origin is only scheme://host[:port], with no path (not even \"/\"), query or user", o)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q: no host", o)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(p)
		switch {
		case err != nil || n < 1 || n > 65535:
			return fmt.Errorf("%q: port must be 1..65535", o)
		case (u.Scheme == "http" && n == 80) || (u.Scheme == "https" && n == 443):
			return fmt.Errorf("%q: browsers send the origin without its default port: write %s://%s", o, u.Scheme, u.Hostname())
		}
	}
	return nil
}

// originList is a comma-separated flag value of origins.
type originList []string

func (l *originList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// Set replaces the list (blank entries dropped); Config.Validate checks
// each origin.
func (l *originList) Set(s string) error {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	*l = out
	return nil
}

// Get implements flag.Getter.
func (l *originList) Get() any { return []string(*l) }
