package e2e_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// issuer signs JWTs with a key of its own, published as a JWKS file.
type issuer struct {
	key  jwk.Key
	jwks string // path of the JWKS file
}

func newIssuer(t testing.TB, dir string) *issuer {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "test-1")
	_ = key.Set(jwk.AlgorithmKey, jwa.ES256())
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &issuer{key: key, jwks: path}
}

const (
	jwtIssuer   = "https://login.example.com/"
	jwtAudience = "imagepipe-test"
)

// token signs claims: a valid token of tenant with scopes, changed by edit.
func (is *issuer) token(t testing.TB, tenant, scopes string, edit func(b *jwt.Builder)) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(jwtIssuer).Audience([]string{jwtAudience}).Subject("user-7").
		IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour)).
		Claim("tenant", tenant).Claim("scope", scopes)
	if edit != nil {
		edit(b)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), is.key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// identityServer is a server on one backend with an identity provider.
type identityServer struct {
	*server
	name   string
	issuer *issuer
	stores map[string]string // store URLs, to look behind the API
}

// identityServers starts one server on the embedded default and, when the
// loopback AWS servers run, one on S3/SQS/DynamoDB, both accepting JWTs.
func identityServers(t *testing.T) []identityServer {
	t.Helper()
	var out []identityServer
	for _, backend := range []string{"embedded", "aws"} {
		dir := t.TempDir()
		is := newIssuer(t, dir)
		env := map[string]string{}
		if backend == "aws" {
			if os.Getenv("AWS_ENDPOINT_URL_S3") == "" && os.Getenv("IMAGEPIPE_REQUIRE_AWS") == "" {
				continue
			}
			env = awsStores(t)
		}
		env["IMAGEPIPE_WEBHOOKS_ALLOW_NETS"] = "127.0.0.0/8"
		env["IMAGEPIPE_WEBHOOKS_BACKOFF"] = "200ms"
		env["IMAGEPIPE_JWT_JWKS"] = is.jwks
		env["IMAGEPIPE_JWT_ISSUER"] = jwtIssuer
		env["IMAGEPIPE_JWT_AUDIENCE"] = jwtAudience
		cfg := testConfig(dir)
		if err := cfg.LoadEnv(func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		s := start(t, cfg)
		if s.Token == "" {
			t.Fatalf("%s: no admin key", backend)
		}
		c := s.App.Config()
		out = append(out, identityServer{server: s, name: backend, issuer: is,
			stores: map[string]string{"originals": c.OriginalsURL, "variants": c.VariantsURL, "queue": c.QueueURL, "status": c.StatusURL}})
	}
	return out
}

// call sends method path with token ("" for none) and an optional JSON or
// image body.
func (s *server) call(t testing.TB, method, path, token, contentType string, body []byte) response {
	t.Helper()
	req, _ := http.NewRequest(method, s.Base+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

// newKey creates an API key for tenant with scopes, as the operator.
func (s *server) newKey(t testing.TB, tenant string, scopes ...string) (token, id string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"tenant": tenant, "scopes": scopes, "name": t.Name()})
	r := s.call(t, http.MethodPost, "/v1/admin/keys", s.Token, "application/json", body)
	if r.code != http.StatusOK {
		t.Fatalf("create key: %d %s", r.code, r.body)
	}
	var created pb.CreateApiKeyResponse
	if err := unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.GetSecret(), "ipk_") || created.GetKey().GetTenant() != tenant {
		t.Fatalf("created key %v", created.GetKey())
	}
	return created.GetSecret(), created.GetKey().GetId()
}

// upload posts a fixture as token and waits for it to finish.
func (s *server) uploadAs(t testing.TB, token, fixture, query string) *pb.Image {
	t.Helper()
	r := s.call(t, http.MethodPost, "/v1/images?wait=60s&"+query, token, "image/jpeg", imagetest.Fixture(t, fixture))
	if r.code != http.StatusOK {
		t.Fatalf("upload %s?%s: %d %s", fixture, query, r.code, r.body)
	}
	return r.image(t)
}

func wantCode(t testing.TB, what string, r response, code int) {
	t.Helper()
	if r.code != code {
		body := r.body
		if len(body) > 300 || !utf8.Valid(body) {
			body = []byte(fmt.Sprintf("(%d bytes of %s)", len(r.body), r.header.Get("Content-Type")))
		}
		t.Errorf("%s: HTTP %d %s, want %d", what, r.code, body, code)
	}
}

// TestIdentity runs every answer the identity issue names, on the embedded
// default and on S3/SQS/DynamoDB.
func TestIdentity(t *testing.T) {
	for _, s := range identityServers(t) {
		t.Run(s.name, func(t *testing.T) {
			acme, _ := s.newKey(t, "acme", "upload", "read")
			globex, _ := s.newKey(t, "globex", "upload", "read")
			reader, _ := s.newKey(t, "acme", "read")
			img := s.uploadAs(t, acme, "dandelion.jpg", "batch_id=holiday&idempotency_key=k1&batch_size=2")
			t.Run("Answers", func(t *testing.T) { testAnswers(t, s, acme, reader, globex, img) })
			t.Run("TenantsApart", func(t *testing.T) { testTenantsApart(t, s, acme, globex, img) })
			t.Run("RevokedAtOnce", func(t *testing.T) { testRevokedAtOnce(t, s) })
			t.Run("JWT", func(t *testing.T) { testJWT(t, s) })
			t.Run("CrossSitePurge", func(t *testing.T) { testCrossSitePurge(t, s) })
			t.Run("PrivateImage", func(t *testing.T) { testPrivateImage(t, s, acme, globex) })
			t.Run("Delete", func(t *testing.T) { testDelete(t, s, acme, globex) })
			t.Run("TenantWebhooks", func(t *testing.T) { testTenantWebhooks(t, s) })
		})
	}
}

// Each row of the "Answers": 401 with WWW-Authenticate /
// UNAUTHENTICATED, 403 / PERMISSION_DENIED, 404 / NOT_FOUND; health and
// public variants open.
func testAnswers(t *testing.T, s identityServer, acme, reader, globex string, img *pb.Image) {
	path := "/v1/images/" + img.GetId()
	for _, c := range []struct {
		name, token string
		code        int
		grpc        codes.Code
	}{
		{"no credentials", "", http.StatusUnauthorized, codes.Unauthenticated},
		{"bad key", "ipk_aaaaaaaaaaaa_not-a-real-secret-at-all-000000000000", http.StatusUnauthorized, codes.Unauthenticated},
		{"bad token", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", http.StatusUnauthorized, codes.Unauthenticated},
		{"another tenant", globex, http.StatusNotFound, codes.NotFound},
		{"owner", acme, http.StatusOK, codes.OK},
		{"operator", s.Token, http.StatusOK, codes.OK},
	} {
		r := s.call(t, http.MethodGet, path, c.token, "", nil)
		wantCode(t, "GET "+c.name, r, c.code)
		if c.code == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.header.Get("WWW-Authenticate"))
		}
		_, err := pb.NewStatusServiceClient(s.ConnAs(t, c.token)).GetImage(t.Context(), &pb.GetImageRequest{Id: img.GetId()})
		if got := status.Code(err); got != c.grpc {
			t.Errorf("gRPC GetImage %s: %v, want %s", c.name, err, c.grpc)
		}
	}
	r := s.call(t, http.MethodPost, "/v1/images", reader, "image/jpeg", imagetest.Fixture(t, "dandelion.jpg"))
	wantCode(t, "upload with a read-only key", r, http.StatusForbidden)
	stream, err := pb.NewIngestServiceClient(s.ConnAs(t, reader)).Upload(t.Context())
	if err == nil {
		_ = stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: &pb.UploadMetadata{FileName: "a.jpg"}}})
		_, err = stream.CloseAndRecv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC upload with a read-only key: %v, want PERMISSION_DENIED", err)
	}
	wantCode(t, "admin route with an upload key", s.call(t, http.MethodGet, "/v1/admin/dead-letters", acme, "", nil), http.StatusForbidden)

	wantCode(t, "healthz without credentials", s.call(t, http.MethodGet, "/healthz", "", "", nil), http.StatusOK)
	if _, err := healthpb.NewHealthClient(s.ConnAs(t, "")).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("gRPC health without credentials: %v", err)
	}
	for _, v := range img.GetVariants() {
		r := s.call(t, http.MethodGet, assetPath(t, v.GetUrl()), "", "", nil)
		wantCode(t, "public variant without credentials", r, http.StatusOK)
	}
}

// Two tenants cannot see, change, reprocess, delete or complete each
// other's images and batches; batch ids and idempotency keys are theirs.
func testTenantsApart(t *testing.T, s identityServer, acme, globex string, acmeImg *pb.Image) {
	// globex uses the same batch id and key: its own batch, its own image.
	g := s.uploadAs(t, globex, "dandelion.jpg", "batch_id=holiday&idempotency_key=k1")
	if g.GetId() == acmeImg.GetId() || g.GetTenant() != "globex" || acmeImg.GetTenant() != "acme" {
		t.Fatalf("globex reusing acme's key got %s (tenant %q), acme's is %s", g.GetId(), g.GetTenant(), acmeImg.GetId())
	}
	batch := func(token, query string) *pb.Batch {
		r := s.call(t, http.MethodGet, "/v1/batches/holiday"+query, token, "", nil)
		b := &pb.Batch{}
		if r.code != http.StatusOK || unmarshal(r.body, b) != nil {
			t.Fatalf("GET batch as %s: %d %s", query, r.code, r.body)
		}
		return b
	}
	// acme's batch expects 2 images: globex's upload must not complete it.
	if b := batch(acme, ""); b.GetTotal() != 1 || b.GetState() != pb.BatchState_BATCH_STATE_PENDING || b.GetImages()[0].GetId() != acmeImg.GetId() {
		t.Errorf("acme's batch: total %d, %s", b.GetTotal(), b.GetState())
	}
	if b := batch(globex, ""); b.GetTotal() != 1 || b.GetImages()[0].GetId() != g.GetId() {
		t.Errorf("globex's batch: total %d", b.GetTotal())
	}
	if b := batch(s.Token, "?tenant=acme"); b.GetTotal() != 1 || b.GetImages()[0].GetId() != acmeImg.GetId() {
		t.Errorf("the operator reading acme's batch: total %d", b.GetTotal())
	}
	wantCode(t, "globex naming acme's tenant", s.call(t, http.MethodGet, "/v1/batches/holiday?tenant=acme", globex, "", nil), http.StatusForbidden)
	lk := s.call(t, http.MethodGet, "/v1/images:lookup?idempotency_key=k1", globex, "", nil)
	if lk.code != http.StatusOK || lk.image(t).GetId() != g.GetId() {
		t.Errorf("globex's lookup of k1: %d %s, want its own image", lk.code, lk.body)
	}

	id := acmeImg.GetId()
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/images/" + id, ""},
		{http.MethodGet, "/v1/images/" + id + ":watch", ""},
		{http.MethodPost, "/v1/images/" + id + ":reprocess", `{"preset":"default"}`},
		{http.MethodPost, "/v1/images/" + id + ":signUrl", `{}`},
		{http.MethodDelete, "/v1/images/" + id, ""},
		{http.MethodPost, "/v1/admin/images:retry", `{"image_ids":["` + id + `"]}`},
	} {
		ct := ""
		if c.body != "" {
			ct = "application/json"
		}
		r := s.call(t, c.method, c.path, globex, ct, []byte(c.body))
		if c.path == "/v1/admin/images:retry" {
			wantCode(t, "globex retrying acme's image (no admin scope)", r, http.StatusForbidden)
			continue
		}
		wantCode(t, "globex: "+c.method+" "+c.path, r, http.StatusNotFound)
	}
	if got := s.call(t, http.MethodGet, "/v1/images/"+id, acme, "", nil); got.code != http.StatusOK || got.image(t).GetState() != pb.ImageState_IMAGE_STATE_READY {
		t.Errorf("acme's image after globex's attempts: %d %s", got.code, got.body)
	}
}

// A revoked key is refused from the next call on.
func testRevokedAtOnce(t *testing.T, s identityServer) {
	key, id := s.newKey(t, "initech", "read")
	wantCode(t, "fresh key", s.call(t, http.MethodGet, "/v1/presets", key, "", nil), http.StatusOK)
	wantCode(t, "revoke", s.call(t, http.MethodPost, "/v1/admin/keys/"+id+":revoke", s.Token, "", nil), http.StatusOK)
	wantCode(t, "revoked key", s.call(t, http.MethodGet, "/v1/presets", key, "", nil), http.StatusUnauthorized)
	_, err := pb.NewProcessorServiceClient(s.ConnAs(t, key)).ListPresets(t.Context(), &pb.ListPresetsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC with a revoked key: %v", err)
	}
}

// JWTs: the right one works and carries its tenant; wrong audience,
// expired and signed by another key are refused.
func testJWT(t *testing.T, s identityServer) {
	good := s.issuer.token(t, "acme", "read upload", nil)
	r := s.call(t, http.MethodGet, "/v1/presets", good, "", nil)
	wantCode(t, "valid JWT", r, http.StatusOK)
	other := newIssuer(t, t.TempDir())
	for name, tok := range map[string]string{
		"wrong audience": s.issuer.token(t, "acme", "read", func(b *jwt.Builder) { b.Audience([]string{"someone-else"}) }),
		"expired": s.issuer.token(t, "acme", "read", func(b *jwt.Builder) {
			b.IssuedAt(time.Now().Add(-2 * time.Hour)).Expiration(time.Now().Add(-time.Hour))
		}),
		"another key": other.token(t, "acme", "read", nil),
	} {
		wantCode(t, "JWT with "+name, s.call(t, http.MethodGet, "/v1/presets", tok, "", nil), http.StatusUnauthorized)
	}
	// A JWT's tenant owns what it uploads.
	img := s.uploadAs(t, good, "dandelion.jpg", "")
	if img.GetTenant() != "acme" {
		t.Errorf("image uploaded with acme's JWT has tenant %q", img.GetTenant())
	}
}

// A cross-site form or text/plain POST cannot reach a state-changing route.
func testCrossSitePurge(t *testing.T, s identityServer) {
	r := s.call(t, http.MethodPost, "/v1/admin/dead-letters:purge", s.Token, "text/plain", []byte(`{"all":true}`))
	wantCode(t, "text/plain purge", r, http.StatusUnsupportedMediaType)
	r = s.call(t, http.MethodPost, "/v1/admin/dead-letters:purge", s.Token, "application/x-www-form-urlencoded", []byte(`all=true`))
	wantCode(t, "form purge", r, http.StatusUnsupportedMediaType)
}

// A private image's variants need a valid, unexpired signature.
func testPrivateImage(t *testing.T, s identityServer, acme, globex string) {
	img := s.uploadAs(t, acme, "dandelion.jpg", "visibility=private")
	if img.GetVisibility() != pb.Visibility_VISIBILITY_PRIVATE || len(img.GetVariants()) == 0 {
		t.Fatalf("private upload: %v", img)
	}
	v := img.GetVariants()[0]
	signed, err := url.Parse(v.GetUrl())
	if err != nil || signed.Query().Get("sig") == "" || v.GetUrlExpireTime() == nil {
		t.Fatalf("record of a private image has URL %q", v.GetUrl())
	}
	plain := signed.Path
	wantCode(t, "private variant without signature", s.call(t, http.MethodGet, plain, "", "", nil), http.StatusForbidden)
	wantCode(t, "private variant with a key but no signature", s.call(t, http.MethodGet, plain, acme, "", nil), http.StatusForbidden)
	r := s.call(t, http.MethodGet, plain+"?"+signed.RawQuery, "", "", nil)
	wantCode(t, "private variant with its signature", r, http.StatusOK)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "private") || strings.Contains(cc, "public") {
		t.Errorf("signed variant Cache-Control %q", cc)
	}
	if ct := r.header.Get("Content-Type"); ct != v.GetContentType() {
		t.Errorf("signed variant Content-Type %q, want %q", ct, v.GetContentType())
	}
	q := signed.Query()
	sig := []byte(q.Get("sig"))
	sig[0] ^= 1
	if sig[0] == q.Get("sig")[0] {
		sig[0]++
	}
	q.Set("sig", string(sig))
	wantCode(t, "tampered signature", s.call(t, http.MethodGet, plain+"?"+q.Encode(), "", "", nil), http.StatusForbidden)
	other := "/a/" + img.GetId() + "/" + img.GetVariants()[len(img.GetVariants())-1].GetName()
	if other != plain {
		wantCode(t, "one variant's signature on another", s.call(t, http.MethodGet, other+"?"+signed.RawQuery, "", "", nil), http.StatusForbidden)
	}

	// signUrl: a chosen expiry, then refused once it passes.
	sr := s.call(t, http.MethodPost, "/v1/images/"+img.GetId()+":signUrl", acme, "application/json",
		[]byte(`{"variant":"`+v.GetName()+`","expires_in":"1s"}`))
	var out pb.SignURLResponse
	if sr.code != http.StatusOK || unmarshal(sr.body, &out) != nil || len(out.GetVariants()) != 1 {
		t.Fatalf("signUrl: %d %s", sr.code, sr.body)
	}
	short, _ := url.Parse(out.GetVariants()[0].GetUrl())
	wantCode(t, "freshly signed", s.call(t, http.MethodGet, short.Path+"?"+short.RawQuery, "", "", nil), http.StatusOK)
	time.Sleep(time.Until(out.GetExpireTime().AsTime()) + 100*time.Millisecond)
	wantCode(t, "expired signature", s.call(t, http.MethodGet, short.Path+"?"+short.RawQuery, "", "", nil), http.StatusForbidden)
	wantCode(t, "another tenant signing", s.call(t, http.MethodPost, "/v1/images/"+img.GetId()+":signUrl", globex, "application/json", []byte(`{}`)), http.StatusNotFound)
}

// Delete leaves nothing readable, answers 404 at once, is idempotent, and
// a redelivered job for the deleted image does nothing.
func testDelete(t *testing.T, s identityServer, acme, globex string) {
	ctx := context.Background()
	img := s.uploadAs(t, acme, "dandelion.jpg", "")
	id := img.GetId()
	originals, err := blob.Open(ctx, s.stores["originals"])
	if err != nil {
		t.Fatal(err)
	}
	defer originals.Close()
	if _, err := originals.Head(ctx, id); err != nil {
		t.Fatalf("original before delete: %v", err)
	}
	wantCode(t, "globex deleting acme's image", s.call(t, http.MethodDelete, "/v1/images/"+id, globex, "", nil), http.StatusNotFound)
	wantCode(t, "delete", s.call(t, http.MethodDelete, "/v1/images/"+id, acme, "", nil), http.StatusOK)
	wantCode(t, "read after delete", s.call(t, http.MethodGet, "/v1/images/"+id, acme, "", nil), http.StatusNotFound)
	for _, v := range img.GetVariants() {
		wantCode(t, "variant after delete", s.call(t, http.MethodGet, assetPath(t, v.GetUrl()), "", "", nil), http.StatusNotFound)
	}
	if _, err := originals.Head(ctx, id); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("original after delete: %v, want not found", err)
	}
	wantCode(t, "delete again", s.call(t, http.MethodDelete, "/v1/images/"+id, acme, "", nil), http.StatusOK)

	// The job comes again (at-least-once delivery): nothing comes back.
	q, err := queue.Open(ctx, s.stores["queue"])
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Send(ctx, jobs.Job{ImageID: id}.Encode(), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := records.Open(ctx, s.stores["status"])
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		rec, err := rs.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Image.GetState() != pb.ImageState_IMAGE_STATE_DELETED || rec.Image.GetOriginal() != nil || len(rec.Image.GetVariants()) != 0 {
			t.Fatalf("tombstone changed by a redelivered job: %v", rec.Image)
		}
	}
	for _, v := range img.GetVariants() {
		wantCode(t, "variant after a redelivered job", s.call(t, http.MethodGet, assetPath(t, v.GetUrl()), "", "", nil), http.StatusNotFound)
	}
}

// A tenant's webhooks are signed with the secret it set (and with no other
// tenant's); a private image's event carries URLs that work; a delete is
// announced as image.deleted.
func testTenantWebhooks(t *testing.T, s identityServer) {
	hooli, _ := s.newKey(t, "hooli", "upload", "read", "admin")
	cb := "/v1/images?visibility=private&callback_url=" + url.QueryEscape("http://127.0.0.1:1/none")
	r := s.call(t, http.MethodPost, cb, hooli, "image/jpeg", imagetest.Fixture(t, "dandelion.jpg"))
	if e := r.errorBody(t); r.code != http.StatusBadRequest || e.Error.Status != "FAILED_PRECONDITION" || e.Error.Field != "callback_url" {
		t.Errorf("callback before the tenant has a secret: %d %s %q", r.code, e.Error.Status, e.Error.Field)
	}
	rot := s.call(t, http.MethodPost, "/v1/admin/webhook-secret:rotate", hooli, "application/json", []byte(`{}`))
	var secret pb.RotateWebhookSecretResponse
	if rot.code != http.StatusOK || unmarshal(rot.body, &secret) != nil || !strings.HasPrefix(secret.GetSecret(), "whsec_") {
		t.Fatalf("rotate: %d %s", rot.code, rot.body)
	}
	recv := newReceiver(t, secret.GetSecret(), 0)
	img := s.uploadAs(t, hooli, "dandelion.jpg", "visibility=private&callback_url="+url.QueryEscape(recv.URL+"/hooks"))
	got := recv.accepted(t, 1, 20*time.Second)
	if len(got) != 1 || got[0].event.GetType() != "image.ready" || got[0].event.GetImage().GetId() != img.GetId() {
		t.Fatalf("events received: %d (bad signatures: %d)", len(got), recv.badSigs.Load())
	}
	u, err := url.Parse(got[0].event.GetImage().GetVariants()[0].GetUrl())
	if err != nil || u.Query().Get("sig") == "" {
		t.Fatalf("a private image's event has URL %q", got[0].event.GetImage().GetVariants()[0].GetUrl())
	}
	wantCode(t, "the event's signed URL", s.call(t, http.MethodGet, u.Path+"?"+u.RawQuery, "", "", nil), http.StatusOK)

	wantCode(t, "delete", s.call(t, http.MethodDelete, "/v1/images/"+img.GetId(), hooli, "", nil), http.StatusOK)
	got = recv.accepted(t, 2, 20*time.Second)
	if len(got) != 2 || got[1].event.GetType() != "image.deleted" || got[1].event.GetImage().GetState() != pb.ImageState_IMAGE_STATE_DELETED {
		t.Errorf("after delete, events: %d, last %v", len(got), got[len(got)-1].event.GetType())
	}
	if n := recv.badSigs.Load(); n != 0 {
		t.Errorf("%d deliveries not signed with the tenant's secret", n)
	}
}
