package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/services/gateway"
	"github.com/imagepipe/imagepipe/web"
)

// The page's /config.json is served to anyone (the page reads it before
// it is signed in) and names the identity provider only when redirect
// sign-in is configured; the page's CSP follows.
func TestWebConfig(t *testing.T) {
	tests := []struct {
		name     string
		oidc     web.OIDC
		clientID string // in /config.json; "" for "oidc": null
		connect  string
	}{
		{"off", web.OIDC{Issuer: "https://idp.example.com", Scopes: "openid"}, "", "connect-src 'self';"},
		{"on", web.OIDC{Issuer: "https://idp.example.com/realm", ClientID: "imagepipe-web", Scopes: "openid"}, "imagepipe-web", "connect-src 'self' https://idp.example.com;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gateway.DefaultConfig()
			cfg.OIDC = tt.oidc
			e := newEnv(t, envOptions{cfg: cfg})
			resp := e.do(t, context.Background(), http.MethodGet, "/config.json", http.Header{"Authorization": {""}}, nil)
			var doc struct{ OIDC *web.OIDC }
			if err := json.NewDecoder(resp.Body).Decode(&doc); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("GET /config.json without a credential = %d (%v)", resp.StatusCode, err)
			}
			got := ""
			if doc.OIDC != nil {
				got = doc.OIDC.ClientID
			}
			if got != tt.clientID {
				t.Errorf("/config.json client id %q, want %q", got, tt.clientID)
			}
			page := e.do(t, context.Background(), http.MethodGet, "/", http.Header{"Authorization": {""}}, nil)
			if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tt.connect) {
				t.Errorf("the page's CSP %q lacks %q", csp, tt.connect)
			}
		})
	}
}
