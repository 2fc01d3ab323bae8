package s3blob

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// MaxSegmentLength is the longest key segment stored under its own name.
// S3 has no such limit, but servers that keep objects as files, such as
// MinIO, reject longer segments.
const MaxSegmentLength = 255

const (
	// reservedPrefix starts the key segments the driver names itself.
	reservedPrefix = ".s3blob-"
	// stagingDir is the first key segment (after the store's prefix) of
	// staging objects.
	stagingDir = reservedPrefix + "staging"
	// longPrefix starts the stored name of a segment longer than
	// MaxSegmentLength, followed by the segment's hex SHA-256.
	longPrefix = reservedPrefix + "long-"
)

// objectKey validates key and returns the S3 key of its object: the
// store's prefix, then key with every segment longer than MaxSegmentLength
// replaced by longPrefix and its hex SHA-256. Segments starting with
// reservedPrefix are rejected, so no key can name a staging object or
// another key's hashed segment.
func (s *Store) objectKey(key string) (string, error) {
	if err := blob.ValidateKey(key); err != nil {
		return "", err
	}
	enc := key
	if len(key) > MaxSegmentLength || strings.Contains(key, reservedPrefix) {
		segs := strings.Split(key, "/")
		for i, seg := range segs {
			if strings.HasPrefix(seg, reservedPrefix) {
				return "", fmt.Errorf("%w: %q: segments starting with %q are reserved", blob.ErrInvalidKey, key, reservedPrefix)
			}
			if len(seg) > MaxSegmentLength {
				sum := sha256.Sum256([]byte(seg))
				segs[i] = longPrefix + hex.EncodeToString(sum[:])
			}
		}
		enc = strings.Join(segs, "/")
	}
	k := s.prefix + enc
	if len(k) > blob.MaxKeyLength {
		return "", fmt.Errorf("%w: %q is %d bytes stored under prefix %q, longer than %d", blob.ErrInvalidKey, key, len(k), s.prefix, blob.MaxKeyLength)
	}
	return k, nil
}

// validatePrefix checks a store's key prefix: a valid key whose segments
// are neither reserved nor longer than MaxSegmentLength.
func validatePrefix(prefix string) error {
	if err := blob.ValidateKey(prefix); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(prefix, "/") {
		switch {
		case strings.HasPrefix(seg, reservedPrefix):
			return fmt.Errorf("segment %q: segments starting with %q are reserved", seg, reservedPrefix)
		case len(seg) > MaxSegmentLength:
			return fmt.Errorf("segment of %d bytes, longer than %d", len(seg), MaxSegmentLength)
		}
	}
	return nil
}
