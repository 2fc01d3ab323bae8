package s3blob_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

// awsConfig is a configuration for tests that make no request.
func awsConfig() aws.Config {
	return aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}
}

func TestParseURL(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		url     string
		want    s3blob.URLConfig
		wantErr string // substring of the error; "" for success
	}{
		{url: "s3://bucket", want: s3blob.URLConfig{Bucket: "bucket"}},
		{url: "s3://bucket/", want: s3blob.URLConfig{Bucket: "bucket"}},
		{url: "s3://my.bucket-1/a/b/", want: s3blob.URLConfig{Bucket: "my.bucket-1", Prefix: "a/b"}},
		{url: "s3://b/p%20q/%C3%BC", want: s3blob.URLConfig{Bucket: "b", Prefix: "p q/ü"}},
		{
			url: "s3://b/imgs?region=eu-central-1&path_style=false&sse=aws:kms&kms_key_id=arn:aws:kms:eu-central-1:1:key/k&part_size=16MiB&concurrency=4",
			want: s3blob.URLConfig{Bucket: "b", Prefix: "imgs", Region: "eu-central-1", Options: s3blob.Options{
				PathStyle: &no, SSE: types.ServerSideEncryptionAwsKms, KMSKeyID: "arn:aws:kms:eu-central-1:1:key/k",
				PartSize: 16 << 20, Concurrency: 4,
			}},
		},
		{url: "s3://b?path_style=true&sse=AES256", want: s3blob.URLConfig{Bucket: "b", Options: s3blob.Options{PathStyle: &yes, SSE: types.ServerSideEncryptionAes256}}},
		{url: "s3://b?sse=aws:kms", want: s3blob.URLConfig{Bucket: "b", Options: s3blob.Options{SSE: types.ServerSideEncryptionAwsKms}}},
		{url: "s3://b?part_size=5mib", want: s3blob.URLConfig{Bucket: "b", Options: s3blob.Options{PartSize: 5 << 20}}},
		{url: "s3://b?part_size=10485760", want: s3blob.URLConfig{Bucket: "b", Options: s3blob.Options{PartSize: 10 << 20}}},
		{url: "s3://b?part_size=6MB", want: s3blob.URLConfig{Bucket: "b", Options: s3blob.Options{PartSize: 6e6}}},
		{url: "s3://b?part_size=1GiB", want: s3blob.URLConfig{Bucket: "b", Options: s3blob.Options{PartSize: 1 << 30}}},

		{url: "file:///x", wantErr: "scheme"},
		{url: "s3:bucket/x", wantErr: "s3://bucket/prefix"},
		{url: "s3://key:secret@b", wantErr: "user info"},
		{url: "s3://b:9000/x", wantErr: "port"},
		{url: "s3:///prefix", wantErr: "no bucket"},
		{url: "s3://b#frag", wantErr: "fragment"},
		{url: "s3://b?endpoint=http://x", wantErr: `unknown parameter "endpoint"`},
		{url: "s3://b?sse=AES256&sse=AES256", wantErr: "2 times"},
		{url: "s3://b?region=", wantErr: "empty"},
		{url: "s3://b?path_style=maybe", wantErr: "not a boolean"},
		{url: "s3://b?sse=aes256", wantErr: "sse"},
		{url: "s3://b?kms_key_id=k", wantErr: "KMS key"},
		{url: "s3://b?sse=AES256&kms_key_id=k", wantErr: "KMS key"},
		{url: "s3://b?part_size=4MiB", wantErr: "part size"},
		{url: "s3://b?part_size=6GiB", wantErr: "part size"},
		{url: "s3://b?part_size=lots", wantErr: "part_size"},
		{url: "s3://b?part_size=-8MiB", wantErr: "part_size"},
		{url: "s3://b?part_size=8TiB", wantErr: "part_size"},
		{url: "s3://b?part_size=99999999999999999999", wantErr: "part_size"},
		{url: "s3://b?concurrency=0", wantErr: "concurrency"},
		{url: "s3://b?concurrency=65", wantErr: "concurrency"},
		{url: "s3://b?concurrency=two", wantErr: "concurrency"},
		{url: "s3://b/a//b", wantErr: "prefix"},
		{url: "s3://b/a/../b", wantErr: "prefix"},
		{url: "s3://b/.s3blob-staging", wantErr: "reserved"},
		{url: "s3://b/" + strings.Repeat("p", 256), wantErr: "longer than 255"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s3blob.ParseURL(u)
			if tc.wantErr != "" {
				if !errors.Is(err, s3blob.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ParseURL error = %v, want ErrInvalidConfig mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseURL = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	yes, no := true, false
	withEndpoint := awsConfig()
	withEndpoint.BaseEndpoint = aws.String("http://127.0.0.1:1")
	noRegion := awsConfig()
	noRegion.Region = ""
	tests := []struct {
		name          string
		cfg           aws.Config
		bucket        string
		prefix        string
		opts          s3blob.Options
		wantPathStyle bool
		wantErr       string
	}{
		{name: "AWS", cfg: awsConfig(), bucket: "b", wantPathStyle: false},
		{name: "EndpointOverride", cfg: withEndpoint, bucket: "b", wantPathStyle: true},
		{name: "EndpointOverrideVirtualHosted", cfg: withEndpoint, bucket: "b", opts: s3blob.Options{PathStyle: &no}, wantPathStyle: false},
		{name: "AWSPathStyle", cfg: awsConfig(), bucket: "b", opts: s3blob.Options{PathStyle: &yes}, wantPathStyle: true},
		{name: "Prefix", cfg: awsConfig(), bucket: "b", prefix: "a/b"},
		{name: "EmptyBucket", cfg: awsConfig(), wantErr: "bucket"},
		{name: "NoRegion", cfg: noRegion, bucket: "b", wantErr: "region"},
		{name: "BadPrefix", cfg: awsConfig(), bucket: "b", prefix: "/a", wantErr: "prefix"},
		{name: "BadSSE", cfg: awsConfig(), bucket: "b", opts: s3blob.Options{SSE: "rot13"}, wantErr: "sse"},
		{name: "KMSKeyWithoutKMS", cfg: awsConfig(), bucket: "b", opts: s3blob.Options{KMSKeyID: "k"}, wantErr: "KMS"},
		{name: "SmallParts", cfg: awsConfig(), bucket: "b", opts: s3blob.Options{PartSize: s3blob.MinPartSize - 1}, wantErr: "part size"},
		{name: "NegativeConcurrency", cfg: awsConfig(), bucket: "b", opts: s3blob.Options{Concurrency: -1}, wantErr: "concurrency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := s3blob.New(t.Context(), tc.cfg, tc.bucket, tc.prefix, tc.opts)
			if tc.wantErr != "" {
				if !errors.Is(err, s3blob.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("New error = %v, want ErrInvalidConfig mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.PathStyle() != tc.wantPathStyle {
				t.Errorf("PathStyle() = %v, want %v", s.PathStyle(), tc.wantPathStyle)
			}
			if want := tc.prefix + strings.Repeat("/", min(len(tc.prefix), 1)); s.Bucket() != tc.bucket || s.Prefix() != want {
				t.Errorf("Bucket, Prefix = %q, %q; want %q, %q", s.Bucket(), s.Prefix(), tc.bucket, want)
			}
		})
	}
}

// TestOpen opens stores through the registry, which loads the AWS
// configuration itself: the endpoint comes from AWS_ENDPOINT_URL_S3, and
// path style follows from it unless the URL says otherwise.
func TestOpen(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	bs, err := blob.Open(t.Context(), "s3://"+srv.bucket+"/opened?part_size=5MiB&concurrency=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	s, ok := bs.(*s3blob.Store)
	if !ok {
		t.Fatalf("blob.Open returned %T, want *s3blob.Store", bs)
	}
	if !s.PathStyle() {
		t.Error("PathStyle() = false with an endpoint override, want true")
	}
	if _, err := s.Put(t.Context(), "k", strings.NewReader("v"), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.wantKeys(t, "opened/k")

	vh, err := blob.Open(t.Context(), "s3://"+srv.bucket+"?path_style=false")
	if err != nil {
		t.Fatal(err)
	}
	if vh.(*s3blob.Store).PathStyle() {
		t.Error("PathStyle() = true with path_style=false, want false")
	}
	if _, err := blob.Open(t.Context(), "s3://"+srv.bucket+"?partsize=5MiB"); !errors.Is(err, s3blob.ErrInvalidConfig) {
		t.Errorf("Open with an unknown parameter = %v, want ErrInvalidConfig", err)
	}
}
