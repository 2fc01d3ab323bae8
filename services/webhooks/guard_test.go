package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dnsAnswers resolves names from a fixed table, standing in for a DNS
// server that answers what an attacker chose.
type dnsAnswers map[string][]netip.Addr

func (d dnsAnswers) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := d[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestCheckURL(t *testing.T) {
	ten := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	answers := dnsAnswers{
		"public.example":  {netip.MustParseAddr("93.184.215.14")},
		"mixed.example":   {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("10.0.0.7")},
		"mapped.example":  {netip.MustParseAddr("::ffff:169.254.169.254")},
		"ipv6ula.example": {netip.MustParseAddr("fd12:3456::1")},
	}
	tests := []struct {
		url      string
		allow    []netip.Prefix
		resolver Resolver // nil: the system resolver
		want     string   // reason; "" for allowed
	}{
		{"https://93.184.215.14/hook", nil, nil, ""},
		{"https://[2606:4700:4700::1111]/hook", nil, nil, ""},
		{"http://127.0.0.1/hook", nil, nil, ReasonPrivateAddress},
		{"http://127.8.9.10:8080/hook", nil, nil, ReasonPrivateAddress},
		{"http://localhost/hook", nil, nil, ReasonPrivateAddress},
		{"http://localhost:9/hook", loop, nil, ""},
		{"http://[::1]/hook", nil, nil, ReasonPrivateAddress},
		{"http://10.1.2.3/hook", nil, nil, ReasonPrivateAddress},
		{"http://10.1.2.3/hook", ten, nil, ""},
		{"http://[::ffff:10.1.2.3]/hook", ten, nil, ""},
		{"http://172.16.0.1/hook", nil, nil, ReasonPrivateAddress},
		{"http://172.31.255.255/hook", ten, nil, ReasonPrivateAddress},
		{"http://192.168.1.1/hook", nil, nil, ReasonPrivateAddress},
		{"http://169.254.169.254/latest/meta-data/", nil, nil, ReasonPrivateAddress},
		{"http://[fe80::1]/hook", nil, nil, ReasonPrivateAddress},
		{"http://[fe80::1%25eth0]/hook", nil, nil, ReasonPrivateAddress},
		{"http://[fc00::1]/hook", nil, nil, ReasonPrivateAddress},
		{"http://[fd00:ec2::254]/hook", nil, nil, ReasonPrivateAddress},
		{"http://100.64.0.1/hook", nil, nil, ReasonPrivateAddress},
		{"http://100.127.255.254/hook", nil, nil, ReasonPrivateAddress},
		{"http://100.128.0.1/hook", nil, nil, ""},
		{"http://0.0.0.0/hook", nil, nil, ReasonPrivateAddress},
		{"http://[::]/hook", nil, nil, ReasonPrivateAddress},
		{"http://224.0.0.1/hook", nil, nil, ReasonPrivateAddress},
		{"http://[ff02::1]/hook", nil, nil, ReasonPrivateAddress},
		{"http://255.255.255.255/hook", nil, nil, ReasonPrivateAddress},
		{"http://[::ffff:127.0.0.1]/hook", nil, nil, ReasonPrivateAddress},
		{"http://[::ffff:169.254.169.254]/hook", nil, nil, ReasonPrivateAddress},
		{"http://[::ffff:192.168.0.1]/hook", nil, nil, ReasonPrivateAddress},
		{"https://public.example/hook", nil, answers, ""},
		{"https://mixed.example/hook", nil, answers, ReasonPrivateAddress},
		{"https://mixed.example/hook", ten, answers, ""},
		{"https://mapped.example/hook", nil, answers, ReasonPrivateAddress},
		{"https://ipv6ula.example/hook", nil, answers, ReasonPrivateAddress},
		{"https://unknown.example/hook", nil, answers, ReasonUnresolvable},
		{"http://nonexistent.invalid/hook", nil, nil, ReasonUnresolvable},
		{"ftp://93.184.215.14/hook", nil, nil, ReasonInvalidURL},
		{"http://user:pw@93.184.215.14/hook", nil, nil, ReasonInvalidURL},
		{"/relative/hook", nil, nil, ReasonInvalidURL},
		{"https://93.184.215.14/hook#frag", nil, nil, ReasonInvalidURL},
		{"https://93.184.215.14/" + strings.Repeat("a", MaxURLBytes), nil, nil, ReasonInvalidURL},
		{"http://%zz/", nil, nil, ReasonInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			g := NewGuard(tt.allow)
			g.Resolver = tt.resolver
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := g.CheckURL(ctx, tt.url)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v, want allowed", err)
				}
				return
			}
			var ue *URLError
			if !errors.As(err, &ue) || ue.Reason != tt.want {
				t.Fatalf("CheckURL = %#v, want reason %q", err, tt.want)
			}
			if ue.Msg == "" || strings.Contains(ue.Msg, "10.0.0.7") || strings.Contains(ue.Msg, "169.254") && !strings.Contains(tt.url, "169.254") {
				t.Fatalf("message %q: want a human message naming no resolved address", ue.Msg)
			}
		})
	}
}

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	// By name too: the dial-time check sees the address the name resolved
	// to, whatever CheckURL saw earlier.
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	for _, u := range []string{srv.URL, byName} {
		_, err := NewGuard(nil).Client(5*time.Second).Post(u, "application/json", strings.NewReader("{}"))
		if !errors.Is(err, ErrAddressNotAllowed) {
			t.Fatalf("POST %s without allow: err = %v, want ErrAddressNotAllowed", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server got %d requests, want 0", n)
	}

	allowed := NewGuard([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).Client(5 * time.Second)
	resp, err := allowed.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST with allow 127.0.0.0/8: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || hits.Load() != 1 {
		t.Fatalf("status %d, hits %d; want 204 and 1", resp.StatusCode, hits.Load())
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var target atomic.Int32
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { target.Add(1) }))
	defer dst.Close()
	src := httptest.NewServer(http.RedirectHandler(dst.URL, http.StatusFound))
	defer src.Close()
	c := NewGuard([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}).Client(5 * time.Second)
	resp, err := c.Post(src.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || target.Load() != 0 {
		t.Fatalf("status %d, redirect target hit %d times; want 302 and 0", resp.StatusCode, target.Load())
	}
}
