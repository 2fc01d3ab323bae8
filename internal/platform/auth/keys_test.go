package auth_test

import (
	"crypto/sha256"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
)

var keyRE = regexp.MustCompile(`^ipk_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$`)

func TestNewKey(t *testing.T) {
	token, k, err := auth.NewKey("acme", []auth.Scope{auth.ScopeUpload, auth.ScopeRead, auth.ScopeUpload}, "ci uploader")
	if err != nil {
		t.Fatal(err)
	}
	m := keyRE.FindStringSubmatch(token)
	if m == nil {
		t.Fatalf("token %q does not match %s", token, keyRE)
	}
	sum := sha256.Sum256([]byte(token))
	switch {
	case k.ID != m[1]:
		t.Errorf("ID = %q, want the token's %q", k.ID, m[1])
	case auth.KeyID(token) != k.ID:
		t.Errorf("KeyID(token) = %q, want %q", auth.KeyID(token), k.ID)
	case string(k.Hash) != string(sum[:]):
		t.Errorf("Hash is not the SHA-256 of the token")
	case k.Tenant != "acme" || k.Name != "ci uploader":
		t.Errorf("tenant, name = %q, %q", k.Tenant, k.Name)
	case !slices.Equal(k.Scopes, []string{"upload", "read"}):
		t.Errorf("Scopes = %q, want [upload read] (repeats dropped)", k.Scopes)
	case k.CreateTime.IsZero() || k.Revoked() || !k.LastUseTime.IsZero():
		t.Errorf("times: create %v, revoke %v, last use %v", k.CreateTime, k.RevokeTime, k.LastUseTime)
	}

	seen := map[string]bool{}
	for range 200 {
		tok, k, err := auth.NewKey("acme", []auth.Scope{auth.ScopeRead}, "")
		if err != nil {
			t.Fatal(err)
		}
		if seen[k.ID] || seen[tok] {
			t.Fatalf("repeated id %q", k.ID)
		}
		seen[k.ID], seen[tok] = true, true
	}
}

func TestNewKeyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, tenant, keyName string
		scopes                []auth.Scope
	}{
		{"bad tenant", "Acme!", "", []auth.Scope{auth.ScopeRead}},
		{"empty tenant", "", "", []auth.Scope{auth.ScopeRead}},
		{"no scopes", "acme", "", nil},
		{"unknown scope", "acme", "", []auth.Scope{"write"}},
		{"long name", "acme", strings.Repeat("n", 201), []auth.Scope{auth.ScopeRead}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tok, _, err := auth.NewKey(tc.tenant, tc.scopes, tc.keyName); err == nil {
				t.Fatalf("NewKey made %q", tok)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"ipk_abcdefghijkl_c2VjcmV0", "abcdefghijkl"},
		{"ipk_abc234_x_y-z", "abc234"},
		{"ipk_abcdefghijkl_", ""}, // no secret
		{"ipk_abcdefghijkl", ""},  // no separator
		{"ipk__secret", ""},       // no id
		{"ipk_ABCDEF_secret", ""}, // upper case id
		{"ipk_ab.cd_secret", ""},  // not an id
		{"eyJh.eyJz.c2ln", ""},    // a JWT
		{"a.b.c", ""},             // shaped like one
		{strings.Repeat("x", 40), auth.AdminKeyID},
		{"a.b", auth.AdminKeyID}, // one dot: not a JWT
		{"a.b.c.d", auth.AdminKeyID},
		{"", auth.AdminKeyID},
		{"IPK_abcdefghijkl_secret", auth.AdminKeyID},
	} {
		if got := auth.KeyID(tc.token); got != tc.want {
			t.Errorf("KeyID(%q) = %q, want %q", tc.token, got, tc.want)
		}
	}
}

func TestBootstrapKey(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("k", 32)
	generated, _, err := auth.NewKey("default", []auth.Scope{auth.ScopeAdmin}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, wantID string
		ok                  bool
	}{
		{"32 chars", long, auth.AdminKeyID, true},
		{"generated form", generated, auth.KeyID(generated), true},
		{"31 chars", long[1:], "", false},
		{"space", long[:20] + " " + long[:20], "", false},
		{"non-ASCII", long + "é", "", false},
		{"newline", long + "\n", "", false},
		{"JWT-shaped", long + ".a.b", "", false},
		{"malformed ipk_", "ipk_" + long, "", false},
		{"too long", strings.Repeat("k", 513), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := auth.BootstrapKey(tc.token, now)
			if !tc.ok {
				if err == nil {
					t.Fatalf("BootstrapKey accepted %q as %+v", tc.token, k)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte(tc.token))
			if k.ID != tc.wantID || k.Tenant != auth.DefaultTenant || !slices.Equal(k.Scopes, []string{"admin"}) ||
				k.Name != "bootstrap admin key" || string(k.Hash) != string(sum[:]) || !k.CreateTime.Equal(now) {
				t.Errorf("BootstrapKey = %+v", k)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	for _, tc := range []struct {
		csv  string
		want []auth.Scope
		ok   bool
	}{
		{"upload", []auth.Scope{auth.ScopeUpload}, true},
		{"upload,read", []auth.Scope{auth.ScopeUpload, auth.ScopeRead}, true},
		{" read , admin ,", []auth.Scope{auth.ScopeRead, auth.ScopeAdmin}, true},
		{"read,read", []auth.Scope{auth.ScopeRead}, true},
		{"", nil, false},
		{" , ", nil, false},
		{"read,write", nil, false},
		{"READ", nil, false},
	} {
		got, err := auth.ParseScopes(tc.csv)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("ParseScopes(%q) = %q, %v; want %q, ok %t", tc.csv, got, err, tc.want, tc.ok)
		}
	}
}
