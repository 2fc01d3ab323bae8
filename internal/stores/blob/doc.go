// Package blob defines the object storage interface used by imagepipe and a
// URL-based driver registry, in the style of database/sql.
//
// A driver lives in its own package, registers a URL scheme from init and is
// linked in with a blank import:
//
//	import _ "github.com/imagepipe/imagepipe/internal/stores/blob/fsblob"
//
//	store, err := blob.Open(ctx, "file:///var/lib/imagepipe/blobs")
//
// # Semantics every driver must provide
//
// The contract is modelled on Amazon S3 so that an S3 driver maps one to one;
// package blobtest checks it and every driver runs that suite:
//
//   - Keys are validated with ValidateKey before any I/O; a rejected key
//     yields an error wrapping ErrInvalidKey. A key may be both an object and
//     a prefix of other keys ("a" and "a/b" can coexist).
//   - Put is atomic and overwrites: a reader sees the previous object or the
//     complete new one. If the reader fails or ctx is cancelled, Put returns
//     an error (wrapping ctx.Err() for cancellation) and nothing is stored.
//   - A missing object yields an error wrapping ErrNotFound from Get,
//     GetRange and Head; Delete of a missing key succeeds.
//   - ETag is an unquoted opaque string, equal for equal content written the
//     same way and different for different content (fsblob and s3blob: hex
//     SHA-256 of the content, which s3blob keeps as object metadata because
//     S3's own multipart ETag is not a content hash).
//   - An empty PutOptions.ContentType is stored as DefaultContentType.
//   - GetRange with offset == size or length 0 returns an empty body;
//     offset < 0 or offset > size yields ErrInvalidRange. An S3 driver
//     answers these cases without a ranged request (S3 answers HTTP 416
//     for offset == size) and removes the quotes S3 puts around ETags.
package blob
