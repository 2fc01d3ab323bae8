package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

// API keys look like ipk_<id>_<secret>: the id (12 of [a-z2-7]) names the
// key in the store and in listings; the secret is 32 random bytes,
// base64url without padding. Only the SHA-256 of the whole key is stored.
const (
	KeyPrefix = "ipk_"
	// AdminKeyID is the id the operator's bootstrap key (IMAGEPIPE_ADMIN_KEY)
	// is stored under: any bearer token that is neither an ipk_ key nor a
	// JWT is looked up as this key.
	AdminKeyID = "admin"
	// MinBootstrapKeyLen is the shortest bootstrap key accepted.
	MinBootstrapKeyLen = 32
	// MaxKeyNameLen is the longest key name (tenants.Key.Name).
	MaxKeyNameLen = 200

	keyIDLen          = 12
	keySecretBytes    = 32
	maxBootstrapKeyLn = 512
)

// NewKey makes an API key for tenant carrying scopes: the token to give the
// caller once, and its stored form (hashed; the token is not kept).
func NewKey(tenant string, scopes []Scope, name string) (token string, k tenants.Key, err error) {
	if !ValidTenant(tenant) {
		return "", tenants.Key{}, fmt.Errorf("auth: tenant %q: must be 1..63 of [a-z0-9_-]", tenant)
	}
	if err := checkScopes(scopes); err != nil {
		return "", tenants.Key{}, err
	}
	scopes = KnownScopes(ScopeStrings(scopes)) // drops repeats
	if len(name) > MaxKeyNameLen {
		return "", tenants.Key{}, fmt.Errorf("auth: key name: at most %d bytes, got %d", MaxKeyNameLen, len(name))
	}
	// rand.Text is base32 (A-Z2-7) of 130 random bits; 12 of them are 60.
	id := strings.ToLower(rand.Text()[:keyIDLen])
	secret := make([]byte, keySecretBytes)
	rand.Read(secret) // never fails (crypto/rand panics instead)
	token = KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(token))
	return token, tenants.Key{
		ID:         id,
		Tenant:     tenant,
		Name:       name,
		Scopes:     ScopeStrings(scopes),
		Hash:       sum[:],
		CreateTime: time.Now().UTC(),
	}, nil
}

// KeyID returns the store id of the key token: the id of an ipk_ key,
// AdminKeyID for any other token that is not a JWT, and "" for a JWT or a
// malformed ipk_ key (which names no key).
func KeyID(token string) string {
	if LooksLikeJWT(token) {
		return ""
	}
	rest, ok := strings.CutPrefix(token, KeyPrefix)
	if !ok {
		return AdminKeyID
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || secret == "" || !validKeyID(id) {
		return ""
	}
	return id
}

// validKeyID accepts ids of [a-z0-9], 1..64, so a later change of id
// length keeps working; NewKey makes 12 of [a-z2-7].
func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// LooksLikeJWT reports whether token has the shape of a JWS in compact
// serialisation (three parts separated by two dots).
func LooksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// BootstrapKey returns the stored form of the operator's bootstrap key
// (IMAGEPIPE_ADMIN_KEY): an admin of the default tenant under id
// KeyID(token). The key must be 32..512 printable ASCII characters without
// spaces, and must not look like a JWT (it would never reach the key
// store).
func BootstrapKey(token string, now time.Time) (tenants.Key, error) {
	switch {
	case len(token) < MinBootstrapKeyLen:
		return tenants.Key{}, fmt.Errorf("auth: admin key: at least %d characters, got %d", MinBootstrapKeyLen, len(token))
	case len(token) > maxBootstrapKeyLn:
		return tenants.Key{}, fmt.Errorf("auth: admin key: at most %d characters, got %d", maxBootstrapKeyLn, len(token))
	case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return tenants.Key{}, errors.New("auth: admin key: only printable ASCII without spaces (it is sent in an HTTP header)")
	case LooksLikeJWT(token):
		return tenants.Key{}, errors.New("auth: admin key: must not contain exactly two dots (it would be taken for a JWT)")
	}
	id := KeyID(token)
	if id == "" {
		return tenants.Key{}, fmt.Errorf("auth: admin key: starts with %q but is not %s<id>_<secret>", KeyPrefix, KeyPrefix)
	}
	sum := sha256.Sum256([]byte(token))
	return tenants.Key{
		ID:         id,
		Tenant:     DefaultTenant,
		Name:       "bootstrap admin key",
		Scopes:     []string{string(ScopeAdmin)},
		Hash:       sum[:],
		CreateTime: now,
	}, nil
}

// ParseScopes parses a comma-separated list of scope names ("upload,read"),
// ignoring blanks and repeats; an unknown name or an empty list is an
// error.
func ParseScopes(csv string) ([]Scope, error) {
	var out []Scope
	for f := range strings.SplitSeq(csv, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		s := Scope(f)
		if !slices.Contains(Scopes, s) {
			return nil, fmt.Errorf("auth: unknown scope %q: want %s", f, scopeList())
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("auth: no scope given: want one or more of %s", scopeList())
	}
	return out, nil
}

// ScopeStrings returns scopes as strings, for storage.
func ScopeStrings(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

// KnownScopes returns the known scopes among names, in order, without
// repeats; unknown names are dropped (a stored key or a token may carry
// scopes of a newer or another system).
func KnownScopes(names []string) []Scope {
	var out []Scope
	for _, n := range names {
		s := Scope(n)
		if slices.Contains(Scopes, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func checkScopes(scopes []Scope) error {
	if len(scopes) == 0 {
		return fmt.Errorf("auth: a key needs one or more scopes of %s", scopeList())
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return fmt.Errorf("auth: unknown scope %q: want %s", s, scopeList())
		}
	}
	return nil
}

func scopeList() string { return strings.Join(ScopeStrings(Scopes), ", ") }
