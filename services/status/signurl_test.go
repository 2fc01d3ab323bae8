package status_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/stores/records/recordstest"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const cdn = "https://cdn.example.com"

// readyImage stores a READY image of tenant "a" with variants thumb and
// large, served from cdn.
func readyImage(t *testing.T, rs records.Store, vis pb.Visibility) string {
	t.Helper()
	id := recordstest.NewID(t)
	var vs []*pb.VariantInfo
	for _, name := range []string{"thumb", "large"} {
		vs = append(vs, &pb.VariantInfo{Name: name, Url: cdn + "/a/" + id + "/" + name, Width: 10, Height: 10})
	}
	return create(t, rs, &pb.Image{Id: id, Tenant: "a", State: ready, Visibility: vis, Variants: vs})
}

// checkSigned checks that v's URL is its stored URL signed until exp: the
// signature verifies before exp and is expired at exp.
func checkSigned(t *testing.T, id string, v *pb.VariantInfo, exp time.Time) {
	t.Helper()
	signer := newSigner(t)
	base := cdn + "/a/" + id + "/" + v.GetName()
	if !strings.HasPrefix(v.GetUrl(), base+"?") {
		t.Fatalf("%s: url %s, want %s signed", v.GetName(), v.GetUrl(), base)
	}
	if !v.GetUrlExpireTime().AsTime().Equal(exp) {
		t.Errorf("%s: url_expire_time %v, want %v", v.GetName(), v.GetUrlExpireTime().AsTime(), exp)
	}
	u, err := url.Parse(v.GetUrl())
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.VerifyURL(u, exp.Add(-time.Second)); err != nil {
		t.Errorf("%s: a second before expiry: %v", v.GetName(), err)
	}
	if err := signer.VerifyURL(u, exp); !errors.Is(err, urlsign.ErrExpired) {
		t.Errorf("%s: at expiry: %v, want ErrExpired", v.GetName(), err)
	}
	other, err := urlsign.New([][]byte{[]byte(strings.Repeat("x", 32))})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.VerifyURL(u, exp.Add(-time.Second)); !errors.Is(err, urlsign.ErrBadSignature) {
		t.Errorf("%s: another key: %v, want ErrBadSignature", v.GetName(), err)
	}
}

func TestSignURLPrivate(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	id := readyImage(t, rs, pb.Visibility_VISIBILITY_PRIVATE)
	ctx := as(context.Background(), "a", auth.ScopeRead)
	cases := []struct {
		name      string
		variant   string
		expiresIn *durationpb.Duration
		want      []string
		ttl       time.Duration
	}{
		{"all, default ttl", "", nil, []string{"thumb", "large"}, time.Hour},
		{"one, 90s", "large", durationpb.New(90 * time.Second), []string{"large"}, 90 * time.Second},
		{"shortest", "thumb", durationpb.New(time.Second), []string{"thumb"}, time.Second},
		{"longest", "", durationpb.New(7 * 24 * time.Hour), []string{"thumb", "large"}, 7 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			resp, err := c.SignURL(ctx, &pb.SignURLRequest{ImageId: id, Variant: tc.variant, ExpiresIn: tc.expiresIn})
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			exp := resp.GetExpireTime().AsTime()
			if exp.Before(before.Add(tc.ttl)) || exp.After(after.Add(tc.ttl+time.Second)) {
				t.Errorf("expires %v, want %s from now (%v)", exp, tc.ttl, before)
			}
			if len(resp.GetVariants()) != len(tc.want) {
				t.Fatalf("variants %v, want %v", resp.GetVariants(), tc.want)
			}
			for i, v := range resp.GetVariants() {
				if v.GetName() != tc.want[i] || v.GetWidth() != 10 {
					t.Errorf("variant %d = %v, want %s", i, v, tc.want[i])
				}
				checkSigned(t, id, v, exp)
			}
		})
	}
	rec, err := rs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rec.Image.GetVariants() {
		if strings.Contains(v.GetUrl(), "?") || v.GetUrlExpireTime() != nil {
			t.Errorf("stored variant changed: %v", v)
		}
	}
}

func TestSignURLPublicIsUnsigned(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	for _, vis := range []pb.Visibility{pb.Visibility_VISIBILITY_PUBLIC, pb.Visibility_VISIBILITY_UNSPECIFIED} {
		id := readyImage(t, rs, vis)
		resp, err := c.SignURL(as(context.Background(), "a", auth.ScopeRead), &pb.SignURLRequest{ImageId: id, ExpiresIn: durationpb.New(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetExpireTime() != nil || len(resp.GetVariants()) != 2 {
			t.Errorf("%s: %v; want two variants, no expiry", vis, resp)
		}
		for _, v := range resp.GetVariants() {
			if v.GetUrl() != cdn+"/a/"+id+"/"+v.GetName() || v.GetUrlExpireTime() != nil {
				t.Errorf("%s: variant %v, want its stored URL", vis, v)
			}
		}
	}
}

func TestSignURLErrors(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	id := readyImage(t, rs, pb.Visibility_VISIBILITY_PRIVATE)
	pending := create(t, rs, &pb.Image{Tenant: "a", State: processing, Visibility: pb.Visibility_VISIBILITY_PRIVATE})
	ctx := as(context.Background(), "a", auth.ScopeRead)
	cases := []struct {
		name  string
		req   *pb.SignURLRequest
		code  codes.Code
		field string
		msg   string
	}{
		{"no image", &pb.SignURLRequest{}, codes.InvalidArgument, "image_id", ""},
		{"unknown image", &pb.SignURLRequest{ImageId: recordstest.NewID(t)}, codes.NotFound, "", ""},
		{"unknown variant", &pb.SignURLRequest{ImageId: id, Variant: "poster"}, codes.NotFound, "", `"poster"`},
		{"zero expiry", &pb.SignURLRequest{ImageId: id, ExpiresIn: durationpb.New(0)}, codes.InvalidArgument, "expires_in", ""},
		{"under a second", &pb.SignURLRequest{ImageId: id, ExpiresIn: durationpb.New(999 * time.Millisecond)}, codes.InvalidArgument, "expires_in", ""},
		{"negative", &pb.SignURLRequest{ImageId: id, ExpiresIn: durationpb.New(-time.Hour)}, codes.InvalidArgument, "expires_in", ""},
		{"over 7 days", &pb.SignURLRequest{ImageId: id, ExpiresIn: durationpb.New(7*24*time.Hour + time.Second)}, codes.InvalidArgument, "expires_in", ""},
		{"malformed duration", &pb.SignURLRequest{ImageId: id, ExpiresIn: &durationpb.Duration{Seconds: 60, Nanos: -1}}, codes.InvalidArgument, "expires_in", ""},
		{"no variants yet", &pb.SignURLRequest{ImageId: pending}, codes.FailedPrecondition, "", ""},
		{"no such variant yet", &pb.SignURLRequest{ImageId: pending, Variant: "thumb"}, codes.NotFound, "", `"thumb"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SignURL(ctx, tc.req)
			wantCode(t, "SignURL", err, tc.code, tc.field)
			if msg := grpcstatus.Convert(err).Message(); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not name %s", msg, tc.msg)
			}
		})
	}
}
