package sqlitequeue

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ParseURL returns the database path and options named by a queue URL; see
// the package documentation for the accepted forms. Unknown or repeated
// parameters and bad values are errors.
func ParseURL(u *url.URL) (path string, opts Options, err error) {
	if u.Scheme != Scheme {
		return "", Options{}, fmt.Errorf("sqlitequeue: URL scheme %q, want %q", u.Scheme, Scheme)
	}
	if u.Fragment != "" || u.User != nil {
		return "", Options{}, fmt.Errorf("sqlitequeue: URL %q: fragments and user info are not supported (percent-encode '#' as %%23)", u.Redacted())
	}
	switch {
	case u.Opaque != "": // sqlite:rel/queue.db
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return "", Options{}, fmt.Errorf("sqlitequeue: URL %q: %w", u.Redacted(), err)
		}
	case u.Host == "" || u.Host == "localhost":
		path = u.Path
	case u.Host == "." || u.Host == "..":
		path = u.Host + u.Path
	default:
		return "", Options{}, fmt.Errorf("sqlitequeue: URL %q: host %q not supported (use sqlite:///abs/path.db or sqlite://./rel/path.db)", u.Redacted(), u.Host)
	}
	if strings.TrimSpace(path) == "" || strings.HasSuffix(path, "/") {
		return "", Options{}, fmt.Errorf("sqlitequeue: URL %q does not name a database file", u.Redacted())
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", Options{}, fmt.Errorf("sqlitequeue: URL query: %w", err)
	}
	opts = DefaultOptions()
	dlqSet := false
	for key, vals := range q {
		if len(vals) != 1 {
			return "", Options{}, fmt.Errorf("sqlitequeue: URL parameter %q given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "name":
			opts.Name = v
		case "dlq":
			opts.DLQ, dlqSet = v, true
		case "visibility":
			if opts.Visibility, err = parseDuration(v); err != nil {
				return "", Options{}, fmt.Errorf("sqlitequeue: URL parameter visibility=%q: %w", v, err)
			}
		case "poll":
			if opts.PollInterval, err = parseDuration(v); err != nil {
				return "", Options{}, fmt.Errorf("sqlitequeue: URL parameter poll=%q: %w", v, err)
			}
		case "max_receive":
			if opts.MaxReceive, err = strconv.Atoi(v); err != nil {
				return "", Options{}, fmt.Errorf("sqlitequeue: URL parameter max_receive=%q: not an integer", v)
			}
		default:
			return "", Options{}, fmt.Errorf("sqlitequeue: unknown URL parameter %q (known: name, visibility, max_receive, dlq, poll)", key)
		}
	}
	if !dlqSet {
		opts.DLQ = opts.Name + DLQSuffix
	}
	if opts.MaxReceive == 0 {
		opts.DLQ = ""
	}
	if err := opts.validate(); err != nil {
		return "", Options{}, err
	}
	return filepath.FromSlash(path), opts, nil
}

const maxSeconds = 1 << 31

// parseDuration accepts a Go duration ("90s", "1m30s") or whole seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > maxSeconds {
			return 0, fmt.Errorf("%d seconds out of range", n)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 30s or whole seconds")
	}
	return d, nil
}
