package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// JWTConfig configures bearer JWTs issued by an external identity provider.
// Only RS256 and ES256 signatures are accepted.
type JWTConfig struct {
	// JWKS holds the provider's public keys: an http(s) URL (fetched at
	// start, refreshed in the background and when a token names a key it
	// does not hold) or a file path (read at start, re-read when a token
	// names a key it does not hold).
	JWKS string
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audience, when set, must be among the aud claim's values.
	Audience string
	// TenantClaim names the claim holding the tenant (default "tenant"); a
	// token without a valid tenant name there is refused.
	TenantClaim string
	// ScopesClaim names the claim holding the scopes (default "scope"): a
	// space-separated string or an array of strings. Unknown scopes are
	// ignored.
	ScopesClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat (0..5m).
	Leeway time.Duration
	// MinRefresh and MaxRefresh bound how often a JWKS URL is fetched in
	// the background: its Cache-Control max-age (or Expires) clamped to
	// [MinRefresh, MaxRefresh], MinRefresh when it sends neither. Defaults
	// 5m and 1h.
	MinRefresh, MaxRefresh time.Duration
	// UnknownKeyRefresh is the least time between fetches forced by a token
	// whose kid is not in the key set (a key the provider just rotated
	// in). Default 30s.
	UnknownKeyRefresh time.Duration
}

// JWTConfig defaults.
const (
	DefaultTenantClaim       = "tenant"
	DefaultScopesClaim       = "scope"
	DefaultMinRefresh        = 5 * time.Minute
	DefaultMaxRefresh        = time.Hour
	DefaultUnknownKeyRefresh = 30 * time.Second
	maxLeeway                = 5 * time.Minute
	// maxTokenLen refuses absurd tokens before any parsing.
	maxTokenLen = 16 << 10
	// firstFetchTimeout bounds the JWKS fetch at construction when the
	// caller's context has no deadline.
	firstFetchTimeout = 30 * time.Second
)

func (c JWTConfig) withDefaults() JWTConfig {
	if c.TenantClaim == "" {
		c.TenantClaim = DefaultTenantClaim
	}
	if c.ScopesClaim == "" {
		c.ScopesClaim = DefaultScopesClaim
	}
	if c.MinRefresh == 0 {
		c.MinRefresh = DefaultMinRefresh
	}
	if c.MaxRefresh == 0 {
		c.MaxRefresh = DefaultMaxRefresh
	}
	if c.UnknownKeyRefresh == 0 {
		c.UnknownKeyRefresh = DefaultUnknownKeyRefresh
	}
	return c
}

// Validate reports every problem at once, naming the field; zero values
// stand for the defaults.
func (c JWTConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.JWKS == "" {
		errs = append(errs, errors.New("JWT JWKS: required: an https:// URL or a file path"))
	} else if jwksIsURL(c.JWKS) {
		u, err := url.Parse(c.JWKS)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("JWT JWKS %q: %w", c.JWKS, err))
		case u.Scheme != "https" && u.Scheme != "http":
			errs = append(errs, fmt.Errorf("JWT JWKS %q: want an https:// (or http://) URL or a file path", c.JWKS))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("JWT JWKS %q: the URL has no host", c.JWKS))
		}
	}
	// Without both, a token the provider issued to another application
	// (or another provider's) would be accepted here.
	if c.Issuer == "" {
		errs = append(errs, errors.New("JWT issuer: required (IMAGEPIPE_JWT_ISSUER): the iss every accepted token carries"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("JWT audience: required (IMAGEPIPE_JWT_AUDIENCE): the aud every accepted token carries"))
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		errs = append(errs, fmt.Errorf("JWT leeway %s: want 0..%s", c.Leeway, maxLeeway))
	}
	if strings.TrimSpace(c.TenantClaim) != c.TenantClaim {
		errs = append(errs, fmt.Errorf("JWT tenant claim %q: no surrounding spaces", c.TenantClaim))
	}
	if strings.TrimSpace(c.ScopesClaim) != c.ScopesClaim {
		errs = append(errs, fmt.Errorf("JWT scopes claim %q: no surrounding spaces", c.ScopesClaim))
	}
	if c.MinRefresh < time.Second || c.MaxRefresh < c.MinRefresh {
		errs = append(errs, fmt.Errorf("JWT JWKS refresh %s..%s: want 1s <= min refresh <= max refresh", c.MinRefresh, c.MaxRefresh))
	}
	if c.UnknownKeyRefresh < 0 {
		errs = append(errs, fmt.Errorf("JWT unknown key refresh %s: must not be negative", c.UnknownKeyRefresh))
	}
	return errors.Join(errs...)
}

func jwksIsURL(s string) bool { return strings.Contains(s, "://") }

// JWT authenticates bearer JWTs signed (RS256 or ES256) by a key of the
// configured JWKS. Close it to stop refreshing a JWKS URL.
type JWT struct {
	cfg  JWTConfig
	log  *slog.Logger
	src  keySource
	opts []jwt.ParseOption

	// forced serialises refreshes forced by an unknown kid: callers queue
	// for it, and those that find one just done look again without
	// fetching.
	forced     chan struct{}
	lastForced time.Time // guarded by forced
}

var _ Authenticator = (*JWT)(nil)

// NewJWT reads the key set (failing if it cannot, or if it holds no RS256
// or ES256 key) and returns the authenticator. httpClient fetches a JWKS
// URL (nil: a client with a 30s timeout; either way redirects from https
// to http are refused). log (nil: none) hears of refusals (debug) and of
// failed refreshes (warn). ctx bounds the first fetch only.
func NewJWT(ctx context.Context, cfg JWTConfig, httpClient *http.Client, log *slog.Logger) (*JWT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, firstFetchTimeout)
		defer cancel()
	}
	var src keySource
	var err error
	if jwksIsURL(cfg.JWKS) {
		src, err = newURLSource(ctx, cfg, httpClient, log)
	} else {
		src, err = newFileSource(cfg.JWKS)
	}
	if err != nil {
		return nil, err
	}
	set, err := src.current(ctx)
	if err == nil && !hasSigningKey(set) {
		err = fmt.Errorf("auth: JWKS %s holds no RSA or P-256 EC signing key (RS256, ES256)", cfg.JWKS)
	}
	if err != nil {
		src.close()
		return nil, err
	}

	j := &JWT{cfg: cfg, log: log, src: src, forced: make(chan struct{}, 1)}
	j.opts = []jwt.ParseOption{
		jwt.WithKeyProvider(jws.KeyProviderFunc(j.fetchKeys)),
		jwt.WithValidate(true),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithAcceptableSkew(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		j.opts = append(j.opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		j.opts = append(j.opts, jwt.WithAudience(cfg.Audience))
	}
	return j, nil
}

// Close stops refreshing the key set.
func (j *JWT) Close() error { return j.src.close() }

// invalidToken is every refusal of a JWT: the reason is logged, not sent.
func invalidToken() error { return Unauthenticated("invalid token") }

// Authenticate implements Authenticator.
func (j *JWT) Authenticate(ctx context.Context, token string) (Principal, error) {
	if len(token) > maxTokenLen || !LooksLikeJWT(token) {
		j.log.DebugContext(ctx, "JWT refused", "reason", "not a compact JWS")
		return Principal{}, invalidToken()
	}
	opts := append(j.opts[:len(j.opts):len(j.opts)], jwt.WithContext(ctx))
	tok, err := jwt.ParseString(token, opts...)
	if err != nil {
		j.log.DebugContext(ctx, "JWT refused", "err", err)
		return Principal{}, invalidToken()
	}
	var tenant string
	if err := tok.Get(j.cfg.TenantClaim, &tenant); err != nil || !ValidTenant(tenant) {
		j.log.DebugContext(ctx, "JWT refused", "reason", "no valid tenant in claim "+j.cfg.TenantClaim)
		return Principal{}, invalidToken()
	}
	sub, _ := tok.Subject()
	return Principal{Tenant: tenant, Scopes: j.scopes(tok), Subject: sub}, nil
}

// scopes reads the scopes claim: a space-separated string (OAuth 2.0's
// scope) or an array of strings (scp); unknown scopes are dropped.
func (j *JWT) scopes(tok jwt.Token) []Scope {
	var raw any
	if err := tok.Get(j.cfg.ScopesClaim, &raw); err != nil {
		return nil
	}
	var names []string
	switch v := raw.(type) {
	case string:
		names = strings.Fields(v)
	case []string:
		names = v
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				names = append(names, s)
			}
		}
	}
	return KnownScopes(names)
}

// acceptedAlg reports whether alg is verified at all: only RS256 and
// ES256, asymmetric, so no key of the set can be abused as an HMAC secret,
// and never "none".
func acceptedAlg(alg jwa.SignatureAlgorithm) bool {
	return alg == jwa.RS256() || alg == jwa.ES256()
}

// fetchKeys is the jws.KeyProvider: it offers the keys of the set that fit
// the token's alg and kid, refreshing the set once (rate-limited) when the
// kid is unknown.
func (j *JWT) fetchKeys(ctx context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	hdr := sig.ProtectedHeaders()
	alg, ok := hdr.Algorithm()
	if !ok || !acceptedAlg(alg) {
		return fmt.Errorf("signature algorithm %q not accepted (want RS256 or ES256)", alg)
	}
	kid, _ := hdr.KeyID()
	set, err := j.src.current(ctx)
	if err != nil {
		return err
	}
	keys := matchingKeys(set, alg, kid)
	if len(keys) == 0 && kid != "" {
		if set, err = j.refreshForUnknownKey(ctx, kid); err != nil {
			return err
		}
		keys = matchingKeys(set, alg, kid)
	}
	if len(keys) == 0 {
		return fmt.Errorf("no %s key with kid %q in the JWKS", alg, kid)
	}
	for _, k := range keys {
		sink.Key(alg, k)
	}
	return nil
}

// refreshForUnknownKey re-reads the key set unless that was done within
// UnknownKeyRefresh, and returns the set as it then is.
func (j *JWT) refreshForUnknownKey(ctx context.Context, kid string) (jwk.Set, error) {
	select {
	case j.forced <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-j.forced }()
	if !j.lastForced.IsZero() && time.Since(j.lastForced) < j.cfg.UnknownKeyRefresh {
		return j.src.current(ctx)
	}
	j.lastForced = time.Now()
	if len(kid) > 64 {
		kid = kid[:64] + "…" // for the log: it is the caller's
	}
	set, err := j.src.refresh(ctx)
	if err != nil {
		j.log.WarnContext(ctx, "JWKS refresh for an unknown key id failed", "jwks", j.cfg.JWKS, "kid", kid, "err", err)
		return j.src.current(ctx)
	}
	j.log.InfoContext(ctx, "JWKS refreshed for an unknown key id", "jwks", j.cfg.JWKS, "kid", kid, "keys", set.Len())
	return set, nil
}
