package e2e_test

import (
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

// BenchmarkAuthGetImage measures what authentication costs one call:
// GetImage over gRPC on the embedded default with authentication off, with
// an API key (one key-store read per call) and with a JWT (a signature
// check). Run: go test -run '^$' -bench AuthGetImage ./integration/e2e/
func BenchmarkAuthGetImage(b *testing.B) {
	dir := b.TempDir()
	is := newIssuer(b, dir)
	for _, mode := range []string{"off", "key", "jwt"} {
		b.Run(mode, func(b *testing.B) {
			cfg := testConfig(b.TempDir())
			cfg.LogLevel = "error"
			cfg.JWT.JWKS, cfg.JWT.Issuer, cfg.JWT.Audience = is.jwks, jwtIssuer, jwtAudience
			if mode == "off" {
				cfg.Auth = "off"
			}
			s := start(b, cfg)
			token := s.Token
			switch mode {
			case "key":
				token, _ = s.newKey(b, "default", "upload", "read")
			case "jwt":
				token = is.token(b, "default", "upload read", nil)
			}
			img := s.uploadAs(b, token, "dandelion.jpg", "")
			c := pb.NewStatusServiceClient(s.ConnAs(b, token))
			b.ResetTimer()
			for range b.N {
				if _, err := c.GetImage(b.Context(), &pb.GetImageRequest{Id: img.GetId()}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
