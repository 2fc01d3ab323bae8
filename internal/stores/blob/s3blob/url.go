package s3blob

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// URLConfig is what an s3:// URL names.
type URLConfig struct {
	// Bucket is the URL's host.
	Bucket string
	// Prefix is the URL's path without its leading and trailing slashes.
	Prefix string
	// Region is the region= parameter, if any; it overrides the AWS
	// configuration's region.
	Region string
	// Options holds the other parameters.
	Options Options
}

// ParseURL parses an s3:// URL; see the package documentation for the
// accepted form. Errors wrap ErrInvalidConfig.
func ParseURL(u *url.URL) (URLConfig, error) {
	bad := func(format string, args ...any) (URLConfig, error) {
		return URLConfig{}, fmt.Errorf("%w: URL %q: %s", ErrInvalidConfig, u.Redacted(), fmt.Sprintf(format, args...))
	}
	switch {
	case u.Scheme != Scheme:
		return bad("scheme %q, want %q", u.Scheme, Scheme)
	case u.Opaque != "":
		return bad("want s3://bucket/prefix")
	case u.User != nil:
		return bad("user info is not supported (credentials come from the AWS configuration)")
	case u.Port() != "":
		return bad("a port is not supported (set AWS_ENDPOINT_URL_S3 to use another server)")
	case u.Host == "":
		return bad("no bucket")
	case u.Fragment != "":
		return bad("unexpected fragment")
	}
	c := URLConfig{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return bad("parameter %q given %d times", name, len(values))
		}
		v := values[0]
		if v == "" {
			return bad("parameter %q is empty", name)
		}
		switch name {
		case "region":
			c.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("path_style=%q is not a boolean", v)
			}
			c.Options.PathStyle = &b
		case "sse":
			c.Options.SSE = types.ServerSideEncryption(v)
		case "kms_key_id":
			c.Options.KMSKeyID = v
		case "part_size":
			n, err := parseSize(v)
			if err != nil {
				return bad("part_size: %v", err)
			}
			c.Options.PartSize = n
		case "concurrency":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad("concurrency=%q is not a positive integer", v)
			}
			c.Options.Concurrency = n
		default:
			return bad("unknown parameter %q (known: region, path_style, sse, kms_key_id, part_size, concurrency)", name)
		}
	}
	// Check the values here too, so that a bad URL fails before any AWS
	// configuration is loaded.
	if c.Prefix != "" {
		if err := validatePrefix(c.Prefix); err != nil {
			return bad("prefix: %v", err)
		}
	}
	check := c.Options
	if err := check.validate(); err != nil {
		return URLConfig{}, fmt.Errorf("%w (URL %q)", err, u.Redacted())
	}
	return c, nil
}

// sizeUnits maps the accepted size suffixes (compared case-insensitively)
// to their multipliers.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
}

// parseSize parses a byte count such as "8388608", "8MiB" or "16MB".
func parseSize(s string) (int64, error) {
	digits := strings.TrimRight(s, "BbIiKkMmGg")
	n, err := strconv.ParseInt(strings.TrimSpace(digits), 10, 64)
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[len(digits):]))]
	if err != nil || !ok || n < 0 || n > (1<<62)/unit {
		return 0, fmt.Errorf("%q is not a size like 8MiB", s)
	}
	return n * unit, nil
}
