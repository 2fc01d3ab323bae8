package sqsqueue

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Location says which SQS queue a URL names and how to reach it.
type Location struct {
	// Name is the queue name of an sqs://name URL, looked up with
	// GetQueueUrl; empty for a full queue URL.
	Name string
	// QueueURL is the queue URL requests carry (http or https, without the
	// "sqs+" prefix and the driver's parameters); empty for sqs://name.
	QueueURL string
	// Region is the region of an AWS SQS host; it overrides the config's.
	Region string
	// Endpoint is scheme://host[:port] of a queue URL whose host is not an
	// AWS host; it is used when the config sets no endpoint.
	Endpoint string
}

// ParseURL returns the queue and options a driver URL names; see the
// package documentation for the accepted forms.
func ParseURL(u *url.URL) (Location, Options, error) {
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return Location{}, Options{}, fmt.Errorf("sqsqueue: URL %q: user info, fragments and opaque forms are not supported", u.Redacted())
	}
	opts, err := parseQuery(u.RawQuery)
	if err != nil {
		return Location{}, Options{}, err
	}
	var loc Location
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case Scheme:
		if u.Path != "" && u.Path != "/" {
			return Location{}, Options{}, fmt.Errorf("sqsqueue: URL %q: want sqs://<queue name> without a path (full queue URLs take sqs+https://)", u.Redacted())
		}
		if u.Port() != "" {
			return Location{}, Options{}, fmt.Errorf("sqsqueue: URL %q: a queue name has no port", u.Redacted())
		}
		if err := validateName(u.Host); err != nil {
			return Location{}, Options{}, err
		}
		loc.Name = u.Host
	case SchemeHTTPS, SchemeHTTP, SchemeURL:
		plain := *u
		plain.Scheme = strings.TrimPrefix(scheme, "sqs+")
		plain.RawQuery = ""
		if loc, err = parseQueueURL(plain.String()); err != nil {
			return Location{}, Options{}, err
		}
	default:
		return Location{}, Options{}, fmt.Errorf("sqsqueue: URL scheme %q, want %s, %s, %s or %s", u.Scheme, Scheme, SchemeHTTPS, SchemeHTTP, SchemeURL)
	}
	return loc, opts, nil
}

// parseQuery reads the driver's parameters.
func parseQuery(raw string) (Options, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return Options{}, fmt.Errorf("sqsqueue: URL query: %w", err)
	}
	var opts Options
	for key, vals := range q {
		if len(vals) != 1 {
			return Options{}, fmt.Errorf("sqsqueue: URL parameter %q given %d times", key, len(vals))
		}
		var d time.Duration
		if d, err = parseSeconds(vals[0]); err != nil {
			return Options{}, fmt.Errorf("sqsqueue: URL parameter %s=%q: %w", key, vals[0], err)
		}
		switch key {
		case "visibility":
			if d == 0 {
				return Options{}, fmt.Errorf("sqsqueue: URL parameter visibility=0: leave it out for the queue's default")
			}
			opts.Visibility = d
		case "wait":
			if d == 0 {
				return Options{}, fmt.Errorf("sqsqueue: URL parameter wait=0: must be 1s to 20s")
			}
			opts.MaxWait = d
		default:
			return Options{}, fmt.Errorf("sqsqueue: unknown URL parameter %q (known: visibility, wait)", key)
		}
	}
	if _, err := opts.withDefaults(); err != nil {
		return Options{}, err
	}
	return opts, nil
}

// parseSeconds accepts whole seconds given as a Go duration ("90s", "1m")
// or a number ("90").
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("want a duration such as 30s or whole seconds")
	case d < 0:
		return 0, fmt.Errorf("negative")
	case d%time.Second != 0:
		return 0, fmt.Errorf("SQS takes whole seconds")
	}
	return d, nil
}

// parseQueueURL checks a full queue URL, http(s)://host[:port]/account/name,
// and derives the region or endpoint from its host.
func parseQueueURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("sqsqueue: queue URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Location{}, fmt.Errorf("sqsqueue: queue URL %q: want http(s)://host/<account>/<name>", u.Redacted())
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" {
		return Location{}, fmt.Errorf("sqsqueue: queue URL %q: path must be /<account>/<queue name>", u.Redacted())
	}
	if err := validateName(parts[1]); err != nil {
		return Location{}, err
	}
	loc := Location{QueueURL: u.String()}
	if region, ok := awsRegion(u.Hostname()); ok {
		loc.Region = region
	} else {
		loc.Endpoint = u.Scheme + "://" + u.Host
	}
	return loc, nil
}

// AWS SQS hosts: sqs[-fips].<region>.amazonaws.com[.cn] or .api.aws (dual
// stack), and the legacy <region>.queue.amazonaws.com[.cn].
var (
	awsHost    = regexp.MustCompile(`^sqs(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|api\.aws)$`)
	legacyHost = regexp.MustCompile(`^([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?$`)
)

// awsRegion returns the region of an AWS SQS host.
func awsRegion(host string) (string, bool) {
	host = strings.ToLower(host)
	if host == "queue.amazonaws.com" {
		return "us-east-1", true
	}
	for _, re := range []*regexp.Regexp{awsHost, legacyHost} {
		if m := re.FindStringSubmatch(host); m != nil {
			return m[1], true
		}
	}
	return "", false
}

const maxNameLength = 80

// validateName applies the SQS rules for standard queue names.
func validateName(name string) error {
	if strings.HasSuffix(name, ".fifo") {
		return fmt.Errorf("sqsqueue: queue %q: FIFO queues are not supported", name)
	}
	if name == "" || len(name) > maxNameLength {
		return fmt.Errorf("sqsqueue: queue name %q must be 1 to %d characters", name, maxNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("sqsqueue: queue name %q may only contain A-Z a-z 0-9 - _", name)
		}
	}
	return nil
}
