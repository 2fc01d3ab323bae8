package urlsign_test

import (
	"net/url"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
)

func TestSignImages(t *testing.T) {
	s, err := urlsign.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	img := func(vis pb.Visibility) *pb.Image {
		return &pb.Image{Id: "img1", Visibility: vis, Variants: []*pb.VariantInfo{
			{Name: "thumb", Url: "https://cdn.example.com/a/img1/thumb"},
		}}
	}
	priv, pub := img(pb.Visibility_VISIBILITY_PRIVATE), img(pb.Visibility_VISIBILITY_PUBLIC)
	resp := &pb.ListImagesResponse{Images: []*pb.Image{priv, pub}}
	now := time.Unix(1_700_000_000, 0)
	s.SignImages(resp, time.Hour, now)

	if got := pub.Variants[0].GetUrl(); got != "https://cdn.example.com/a/img1/thumb" || pub.Variants[0].UrlExpireTime != nil {
		t.Errorf("public image changed: %s", got)
	}
	u, err := url.Parse(priv.Variants[0].GetUrl())
	if err != nil || u.Host != "cdn.example.com" || u.Path != "/a/img1/thumb" {
		t.Fatalf("signed URL %q", priv.Variants[0].GetUrl())
	}
	if err := s.VerifyURL(u, now.Add(59*time.Minute)); err != nil {
		t.Errorf("signed URL does not verify: %v", err)
	}
	if err := s.VerifyURL(u, now.Add(61*time.Minute)); err == nil {
		t.Error("signed URL still valid after its ttl")
	}
	if exp := priv.Variants[0].GetUrlExpireTime().AsTime(); !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("url_expire_time %v", exp)
	}

	// Signing again (a record read twice) replaces the signature.
	s.SignImages(&pb.GetImageResponse{Image: priv}, 2*time.Hour, now)
	u2, _ := url.Parse(priv.Variants[0].GetUrl())
	if u2.Path != "/a/img1/thumb" || len(u2.Query()["sig"]) != 1 || s.VerifyURL(u2, now.Add(90*time.Minute)) != nil {
		t.Errorf("re-signed URL %q", priv.Variants[0].GetUrl())
	}
}
