package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/secretfile"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	_ "github.com/imagepipe/imagepipe/internal/stores/tenants/dynamotenants" // dynamodb://
	_ "github.com/imagepipe/imagepipe/internal/stores/tenants/sqlitetenants" // sqlite://
)

// The identity modules: the key and tenant store, the authenticator the
// gRPC server requires on every call, and the URL signer of private images.

// Files the embedded default keeps its generated secrets in, under DataDir.
const (
	adminKeyFile   = "admin.key"
	signingKeyFile = "url-signing.key"
)

func (a *App) initTenants(ctx context.Context) (err error) {
	a.tenants, err = open(ctx, a, "key store", a.cfg.StatusURL, tenants.Open)
	return err
}

// initAuth builds the authenticator: API keys from the key store, and JWTs
// when a JWKS is configured; or, with IMAGEPIPE_AUTH=off, one that lets
// every call in as the operator. It also makes sure the bootstrap admin key
// exists.
func (a *App) initAuth(ctx context.Context) error {
	if a.cfg.AuthOff() {
		a.log.Warn(authOffWarning)
		a.authn = auth.Off{}
		return nil
	}
	chain := auth.Chain{Keys: auth.NewKeys(a.tenants, a.log.With("module", "auth"))}
	if a.cfg.JWT.JWKS != "" {
		j, err := auth.NewJWT(ctx, a.cfg.JWT, &http.Client{Timeout: 10 * time.Second}, a.log.With("module", "auth"))
		if err != nil {
			return fmt.Errorf("jwt: %w", err)
		}
		a.closers = append(a.closers, j.Close)
		chain.JWT = j
	}
	a.authn = chain
	return a.bootstrapAdminKey(ctx)
}

// authOffWarning is logged at start and shown on /healthz.
const authOffWarning = "authentication is off (IMAGEPIPE_AUTH=off): anyone who can reach this server can use it"

// bootstrapAdminKey stores the operator's key: IMAGEPIPE_ADMIN_KEY, or on
// the embedded default one generated once into DataDir/admin.key (0600;
// its path is logged, never the key). A key the operator revoked stays
// revoked; a different IMAGEPIPE_ADMIN_KEY replaces the old one.
func (a *App) bootstrapAdminKey(ctx context.Context) error {
	token := a.cfg.AdminKey
	if token == "" {
		if !a.cfg.embeddedStatus() {
			a.log.Warn("no admin key: set IMAGEPIPE_ADMIN_KEY (or configure JWTs) to manage API keys")
			return nil
		}
		path := filepath.Join(a.cfg.DataDir, adminKeyFile)
		t, created, err := secretfile.LoadOrCreateSecretFile(path, func() (string, error) {
			t, _, err := auth.NewKey(auth.DefaultTenant, []auth.Scope{auth.ScopeAdmin}, "bootstrap admin key")
			return t, err
		})
		if err != nil {
			return fmt.Errorf("admin key: %w", err)
		}
		if created {
			a.log.Info("generated the operator's admin key (tenant default); read it from the file", "path", path)
		}
		token = t
	}
	key, err := auth.BootstrapKey(token, time.Now())
	if err != nil {
		return fmt.Errorf("IMAGEPIPE_ADMIN_KEY: %w", err)
	}
	cur, err := a.tenants.GetKey(ctx, key.ID)
	switch {
	case err == nil && string(cur.Hash) == string(key.Hash):
		return nil // stored already (or revoked by the operator: keep that)
	case err != nil && !errors.Is(err, tenants.ErrNotFound):
		return fmt.Errorf("admin key: %w", err)
	}
	return a.tenants.PutKey(ctx, key)
}

// initSigner builds the URL signer of private images from
// IMAGEPIPE_URL_SIGNING_KEYS, or on the embedded default a key generated
// once into DataDir/url-signing.key.
func (a *App) initSigner(context.Context) error {
	raw := a.cfg.URLSigningKeys
	if raw == "" {
		k, err := urlsign.LoadOrCreateKeyFile(filepath.Join(a.cfg.DataDir, signingKeyFile))
		if err != nil {
			return fmt.Errorf("url signing key: %w", err)
		}
		raw = k
	}
	keys, err := urlsign.ParseKeys(raw)
	if err != nil {
		return fmt.Errorf("IMAGEPIPE_URL_SIGNING_KEYS: %w", err)
	}
	a.signer, err = urlsign.New(keys)
	return err
}

// embeddedStatus reports whether the status store is the embedded SQLite
// file, whose machine may hold the generated secrets beside it.
func (c *Config) embeddedStatus() bool {
	u, err := url.Parse(c.StatusURL)
	return err == nil && u.Scheme == "sqlite"
}
