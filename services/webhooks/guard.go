package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Stable reasons of a URLError.
const (
	ReasonInvalidURL     = "invalid_url"
	ReasonUnresolvable   = "unresolvable"
	ReasonPrivateAddress = "private_address"
)

// URLError is why a callback URL is refused. Its message is safe to show
// to clients: it never names the addresses the host resolved to.
type URLError struct {
	// Reason is ReasonInvalidURL, ReasonUnresolvable or ReasonPrivateAddress.
	Reason string
	// Msg is a human description.
	Msg string
}

func (e *URLError) Error() string { return e.Msg }

// ErrAddressNotAllowed is the dial error for an address the Guard refuses.
var ErrAddressNotAllowed = errors.New("address not allowed")

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard keeps webhooks off private networks: loopback, RFC 1918 and
// fc00::/7, link-local (cloud metadata endpoints), CGNAT, unspecified and
// multicast addresses, IPv4-mapped IPv6 forms included, unless inside an
// allowed prefix. It checks callback URLs when they are accepted
// (CheckURL) and every connection when it is made (DialContext), so a host
// whose DNS later swings onto an internal address is still refused.
type Guard struct {
	allow []netip.Prefix
	// Resolver resolves hosts for CheckURL; nil means net.DefaultResolver.
	Resolver Resolver
}

// NewGuard returns a Guard that lets through addresses inside allow.
func NewGuard(allow []netip.Prefix) *Guard {
	return &Guard{allow: allow}
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8") // 0.x.x.x reaches the local host on Linux
	broadcast = netip.MustParseAddr("255.255.255.255")
)

// Allowed reports whether a connection to addr is allowed.
func (g *Guard) Allowed(addr netip.Addr) bool {
	addr = addr.WithZone("")
	plain := addr.Unmap()
	for _, p := range g.allow {
		if p.Contains(addr) || p.Contains(plain) {
			return true
		}
	}
	return !(plain.IsLoopback() || plain.IsPrivate() || plain.IsLinkLocalUnicast() ||
		plain.IsLinkLocalMulticast() || plain.IsInterfaceLocalMulticast() || plain.IsMulticast() ||
		plain.IsUnspecified() || cgnat.Contains(plain) || thisNet.Contains(plain) || plain == broadcast ||
		!plain.IsValid())
}

// CheckURL checks a callback URL: http(s), absolute, no user info, and a
// host that resolves only to allowed addresses. Errors are *URLError.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	if err := checkSyntax(raw); err != nil {
		return &URLError{Reason: ReasonInvalidURL, Msg: err.Error()}
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		addrs, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return &URLError{Reason: ReasonUnresolvable, Msg: fmt.Sprintf("host %q does not resolve", host)}
		}
	}
	for _, a := range addrs {
		if !g.Allowed(a) {
			return &URLError{Reason: ReasonPrivateAddress, Msg: "host resolves to a private, loopback or link-local address"}
		}
	}
	return nil
}

// DialContext dials like net.Dialer but refuses, at connect time, any
// address the Guard does not allow (the error wraps ErrAddressNotAllowed).
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, address)
}

func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAddressNotAllowed, err)
	}
	if !g.Allowed(ap.Addr()) {
		return ErrAddressNotAllowed
	}
	return nil
}

// Client returns an HTTP client for webhooks: every connection goes
// through DialContext, no proxy is used (not even one from the
// environment, which would dial on the client's behalf), redirects are not
// followed (the 3xx response is returned), and each request, connection
// included, ends after timeout.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           g.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
