package s3blob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// bucketWait bounds how long EnsureBucket waits for a new bucket to answer.
const bucketWait = 2 * time.Minute

// EnsureBucket creates the store's bucket if it does not exist, in the
// client's region, and waits until it answers. It is idempotent and safe to
// run concurrently: a bucket that already exists and is accessible, or that
// another caller creates meanwhile (BucketAlreadyOwnedByYou), is success.
// A bucket name taken by another account fails (BucketAlreadyExists).
// It needs s3:ListBucket (HeadBucket), and s3:CreateBucket only when the
// bucket is missing.
func (s *Store) EnsureBucket(ctx context.Context) error {
	head := &s3.HeadBucketInput{Bucket: &s.bucket}
	_, err := s.client.HeadBucket(ctx, head)
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return wrap(ctx, "ensure bucket", s.bucket, err)
	}
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	// us-east-1 is the default location and must not be named.
	if r := s.client.Options().Region; r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(r),
		}
	}
	_, err = s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) && apiCode(err) != "BucketAlreadyOwnedByYou" {
		return wrap(ctx, "ensure bucket", s.bucket, fmt.Errorf("create: %w", err))
	}
	if err := s3.NewBucketExistsWaiter(s.client).Wait(ctx, head, bucketWait); err != nil {
		return wrap(ctx, "ensure bucket", s.bucket, err)
	}
	return nil
}
