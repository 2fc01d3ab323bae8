package dynamorecords

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// Scheme is the URL scheme the driver registers.
const Scheme = "dynamodb"

func init() {
	records.Register(Scheme, func(ctx context.Context, u *url.URL) (records.Store, error) {
		return Open(ctx, u)
	})
}

// Open opens the store a dynamodb:// URL names, with the AWS SDK's default
// configuration (credentials chain, region, AWS_ENDPOINT_URL[_DYNAMODB]).
func Open(ctx context.Context, u *url.URL) (*Store, error) {
	table, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("dynamorecords: load AWS configuration: %w", err)
	}
	return New(ctx, cfg, table, opts)
}

// ParseURL returns the table and options of a dynamodb://TABLE[?ttl=DURATION]
// URL, rejecting anything else: a path, a port, user info, a fragment, an
// unknown or repeated parameter, a TTL that is not a positive duration.
func ParseURL(u *url.URL) (table string, opts Options, err error) {
	fail := func(format string, a ...any) (string, Options, error) {
		return "", Options{}, fmt.Errorf("dynamorecords: URL %q: "+format, append([]any{u.Redacted()}, a...)...)
	}
	switch {
	case u.Scheme != Scheme:
		return fail("scheme is not %s", Scheme)
	case u.Opaque != "":
		return fail("want %s://TABLE", Scheme)
	case u.User != nil:
		return fail("user info is not allowed; credentials come from the AWS configuration")
	case u.Port() != "":
		return fail("a port is not allowed; set AWS_ENDPOINT_URL_DYNAMODB to change the endpoint")
	case u.Path != "" && u.Path != "/":
		return fail("a path is not allowed: the table is the host, %s://TABLE", Scheme)
	case u.Fragment != "":
		return fail("a fragment is not allowed")
	}
	if err := validTable(u.Hostname()); err != nil {
		return fail("%v", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("query: %v", err)
	}
	for name, vals := range q {
		if name != "ttl" {
			return fail("unknown parameter %q (known: ttl)", name)
		}
		if len(vals) != 1 {
			return fail("parameter %q given %d times", name, len(vals))
		}
		d, err := time.ParseDuration(vals[0])
		if err != nil || d <= 0 {
			return fail("ttl %q is not a positive duration such as 720h", vals[0])
		}
		opts.TTL = d
	}
	return u.Hostname(), opts, nil
}

var tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// validTable checks DynamoDB's table-name rules.
func validTable(name string) error {
	if !tableName.MatchString(name) {
		return fmt.Errorf("invalid table name %q: 3 to 255 letters, digits, '_', '-' or '.'", name)
	}
	return nil
}
