package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/httprc/v3/errsink"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// keySource is where a JWT authenticator's key set comes from.
type keySource interface {
	// current returns the key set as last read.
	current(ctx context.Context) (jwk.Set, error)
	// refresh reads the key set anew and returns it.
	refresh(ctx context.Context) (jwk.Set, error)
	close() error
}

// matchingKeys returns the keys of set that may verify a signature by alg
// under kid (any kid when kid is empty): RSA keys for RS256, P-256 EC keys
// for ES256, and only those not marked for another use or algorithm. A
// symmetric or mismatched key is never offered, whatever the token says.
func matchingKeys(set jwk.Set, alg jwa.SignatureAlgorithm, kid string) []jwk.Key {
	var out []jwk.Key
	for i := range set.Len() {
		k, _ := set.Key(i)
		if kid != "" {
			if id, _ := k.KeyID(); id != kid {
				continue
			}
		}
		if fitsAlg(k, alg) {
			out = append(out, k)
		}
	}
	return out
}

func fitsAlg(k jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if use, ok := k.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
		return false
	}
	if ka, ok := k.Algorithm(); ok && ka.String() != "" && ka.String() != alg.String() {
		return false
	}
	switch alg {
	case jwa.RS256():
		return k.KeyType() == jwa.RSA()
	case jwa.ES256():
		c, ok := k.(interface {
			Crv() (jwa.EllipticCurveAlgorithm, bool)
		})
		if !ok || k.KeyType() != jwa.EC() {
			return false
		}
		crv, ok := c.Crv()
		return ok && crv == jwa.P256()
	}
	return false
}

// hasSigningKey reports whether set holds any key matchingKeys can offer.
func hasSigningKey(set jwk.Set) bool {
	return len(matchingKeys(set, jwa.RS256(), "")) > 0 || len(matchingKeys(set, jwa.ES256(), "")) > 0
}

// fileSource is a JWKS file, re-read on refresh.
type fileSource struct {
	path string
	set  atomic.Value // jwk.Set
}

func newFileSource(path string) (*fileSource, error) {
	s := &fileSource{path: path}
	if _, err := s.refresh(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSource) current(context.Context) (jwk.Set, error) { return s.set.Load().(jwk.Set), nil }

func (s *fileSource) refresh(context.Context) (jwk.Set, error) {
	set, err := jwk.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("auth: cannot read JWKS file %s: %w", s.path, err)
	}
	s.set.Store(set)
	return set, nil
}

func (s *fileSource) close() error { return nil }

// urlSource is a JWKS URL kept fresh by a jwk.Cache: refetched in the
// background at the interval its response's caching headers ask for,
// clamped to [MinRefresh, MaxRefresh]; a failed refetch keeps the keys
// last fetched.
type urlSource struct {
	cache  *jwk.Cache
	url    string
	res    *httprc.ResourceBase[jwk.Set] // its latest set, read without a round trip through the cache
	cancel context.CancelFunc
	once   sync.Once
}

func newURLSource(ctx context.Context, cfg JWTConfig, httpClient *http.Client, log *slog.Logger) (*urlSource, error) {
	// The cache lives until close, not until ctx (a start-up deadline) ends.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	client := httprc.NewClient(
		httprc.WithWorkers(1),
		httprc.WithErrorSink(errsink.NewFunc(func(ctx context.Context, err error) {
			log.WarnContext(ctx, "JWKS refresh failed; keeping the keys last fetched", "jwks", cfg.JWKS, "err", err)
		})),
	)
	c, err := jwk.NewCache(cctx, client)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("auth: JWKS cache: %w", err)
	}
	s := &urlSource{cache: c, url: cfg.JWKS, cancel: cancel}
	opts := []jwk.RegisterOption{
		jwk.WithWaitReady(false),
		jwk.WithMinInterval(cfg.MinRefresh),
		jwk.WithMaxInterval(cfg.MaxRefresh),
	}
	if httpClient != nil {
		opts = append(opts, jwk.WithHTTPClient(jwk.WrapHTTPClientDefaults(httpClient)))
	}
	if err := c.Register(ctx, cfg.JWKS, opts...); err != nil {
		s.close()
		return nil, fmt.Errorf("auth: JWKS %s: %w", cfg.JWKS, err)
	}
	// Register would wait for a fetch that succeeds, however long; a
	// synchronous refresh reports the first failure at once.
	if _, err := s.refresh(ctx); err != nil {
		s.close()
		return nil, fmt.Errorf("auth: cannot read JWKS %s: %w", cfg.JWKS, err)
	}
	if s.res, err = c.LookupResource(ctx, cfg.JWKS); err != nil {
		s.close()
		return nil, fmt.Errorf("auth: JWKS %s: %w", cfg.JWKS, err)
	}
	return s, nil
}

func (s *urlSource) current(context.Context) (jwk.Set, error) {
	set := s.res.Resource()
	if set == nil {
		return nil, fmt.Errorf("auth: JWKS %s not fetched yet", s.url)
	}
	return set, nil
}

func (s *urlSource) refresh(ctx context.Context) (jwk.Set, error) { return s.cache.Refresh(ctx, s.url) }

func (s *urlSource) close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.cache.Shutdown(ctx)
		s.cancel()
	})
	return err
}
