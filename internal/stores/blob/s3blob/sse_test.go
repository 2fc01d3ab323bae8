package s3blob_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/s3blob"
)

// TestSSE checks that objects written with an sse option are encrypted so,
// whether written in one request or staged and copied. MinIO supports SSE
// only with a KMS (MINIO_KMS_SECRET_KEY in its environment); without one it
// refuses both kinds, and the test checks that the refused Puts leave
// nothing behind, then skips.
func TestSSE(t *testing.T) {
	t.Parallel()
	for _, sse := range []types.ServerSideEncryption{types.ServerSideEncryptionAes256, types.ServerSideEncryptionAwsKms} {
		t.Run(string(sse), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			s := srv.store(t, "", s3blob.Options{SSE: sse, PartSize: partSize})
			objects := map[string][]byte{"small": []byte("secret"), "big": content(4, int(partSize)+1)}
			noKMS := false
			for key, data := range objects {
				_, err := s.Put(t.Context(), key, bytes.NewReader(data), blob.PutOptions{})
				var ae smithy.APIError
				if errors.As(err, &ae) && ae.ErrorCode() == "NotImplemented" && strings.Contains(ae.ErrorMessage(), "KMS") {
					noKMS = true
					continue
				}
				if err != nil {
					t.Fatalf("Put(%q): %v", key, err)
				}
				head, err := srv.raw.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &srv.bucket, Key: &key})
				if err != nil {
					t.Fatal(err)
				}
				if head.ServerSideEncryption != sse {
					t.Errorf("%s: server-side encryption %q, want %q", key, head.ServerSideEncryption, sse)
				}
				wantObject(t, s, key, data, blob.Attrs{Key: key, Size: int64(len(data)), ContentType: blob.DefaultContentType, ETag: sha256Hex(data)})
			}
			if noKMS {
				srv.wantKeys(t)
				t.Skipf("the S3 server has no KMS, so it refuses sse=%s: start it with MINIO_KMS_SECRET_KEY=<name>:<base64 of 32 bytes> to test encryption", sse)
			}
		})
	}
}
