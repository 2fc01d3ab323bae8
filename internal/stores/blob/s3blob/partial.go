package s3blob

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Partial objects (blob.PartialStore) are S3 multipart uploads at the
// object's own key, so completing one copies nothing. S3 takes parts of
// at least 5 MiB (but the last), while a tus PATCH may carry any number
// of bytes: a write uploads every full part (Options.PartSize) it
// gathers and keeps the rest, under a part, as a "tail" object, which
// the next write reads back in front of its bytes. The bookkeeping is a
// JSON object beside it: the multipart upload's id, its parts, the tail
// and the SHA-256 state of every byte so far (crypto/sha256's state
// marshals), so the ETag is known when the upload completes without
// reading the object back. Both live under "<prefix>/.s3blob-partial/"
// (a reserved segment, never a key): a lifecycle rule that expires that
// prefix and aborts incomplete multipart uploads removes what a crash
// or an abandoned upload leaves (DEPLOYMENT.md). A write holds a part in
// memory.
//
// An object completed this way has no x-amz-meta-sha256 (S3 takes the
// metadata when the multipart upload is created, before any byte): a
// Head or Get gives S3's ETag, CompletePartial the SHA-256.
const partialDir = reservedPrefix + "partial"

var _ blob.PartialStore = (*Store)(nil)

// partialInfo is the bookkeeping object of a partial.
type partialInfo struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	Info        []byte    `json:"info,omitempty"`
	Created     time.Time `json:"created"`
	ContentType string    `json:"content_type"`
	UploadID    string    `json:"upload_id"`
	Parts       []s3Part  `json:"parts,omitempty"`
	// Offset counts the bytes in the parts and the tail.
	Offset  int64  `json:"offset"`
	TailKey string `json:"tail_key,omitempty"`
	Tail    int64  `json:"tail,omitempty"`
	// Hash is the marshalled SHA-256 state of the Offset bytes.
	Hash     []byte `json:"hash"`
	Complete bool   `json:"complete,omitempty"`
	ETag     string `json:"etag,omitempty"`
}

type s3Part struct {
	N    int32  `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

func (p *partialInfo) partial() blob.Partial {
	return blob.Partial{Key: p.Key, Size: p.Size, Offset: p.Offset, Info: p.Info, Created: p.Created,
		Complete: p.Complete, ETag: p.ETag}
}

// partialKeys are the object key of a partial and the prefix of its
// bookkeeping objects (info: prefix + "json", tails: prefix + "tail-N").
func (s *Store) partialKeys(key string) (obj, base string, err error) {
	obj, err = s.objectKey(key)
	if err != nil {
		return "", "", err
	}
	return obj, s.prefix + partialDir + "/" + strings.TrimPrefix(obj, s.prefix) + ".", nil
}

// writers are the partials being written by this process, each only for
// as long as it is (an entry per partial ever written would grow without
// end).
var writers sync.Map // info key → struct{}

// lockPartial claims infoKey for one writer: false if another holds it;
// the func gives it up.
func lockPartial(infoKey string) (func(), bool) {
	if _, busy := writers.LoadOrStore(infoKey, struct{}{}); busy {
		return nil, false
	}
	return func() { writers.Delete(infoKey) }, true
}

// CreatePartial implements blob.PartialStore.
func (s *Store) CreatePartial(ctx context.Context, key string, size int64, info []byte, opts blob.PutOptions) (blob.Partial, error) {
	obj, base, err := s.partialKeys(key)
	if err != nil {
		return blob.Partial{}, fmt.Errorf("s3blob: create partial: %w", err)
	}
	if size < 0 || len(info) > blob.MaxPartialInfo {
		return blob.Partial{}, fmt.Errorf("s3blob: create partial %q: bad size or info", key)
	}
	if _, err := s.readPartial(ctx, base); err == nil {
		return blob.Partial{}, fmt.Errorf("s3blob: create partial %q: %w", key, blob.ErrExists)
	}
	p := &partialInfo{Key: key, Size: size, Info: info, Created: time.Now().UTC(),
		ContentType: cmp.Or(opts.ContentType, blob.DefaultContentType)}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: &obj, ContentType: &p.ContentType, CacheControl: nonEmpty(opts.CacheControl),
		ServerSideEncryption: s.opts.SSE, SSEKMSKeyId: nonEmpty(s.opts.KMSKeyID),
	})
	if err != nil {
		return blob.Partial{}, wrap(ctx, "create partial", key, err)
	}
	p.UploadID = aws.ToString(out.UploadId)
	if p.Hash, err = sha256.New().(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return blob.Partial{}, err
	}
	if err := s.writePartialInfo(ctx, base, p); err != nil {
		s.abort(context.WithoutCancel(ctx), obj, p.UploadID)
		return blob.Partial{}, wrap(ctx, "create partial", key, err)
	}
	return p.partial(), nil
}

func (s *Store) readPartial(ctx context.Context, base string) (*partialInfo, error) {
	k := base + "json"
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		if isNotFound(err) {
			return nil, blob.ErrNotFound
		}
		return nil, err
	}
	defer out.Body.Close()
	var p partialInfo
	if err := json.NewDecoder(io.LimitReader(out.Body, 4*blob.MaxPartialInfo)).Decode(&p); err != nil {
		return nil, fmt.Errorf("decode partial info: %w", err)
	}
	return &p, nil
}

func (s *Store) writePartialInfo(ctx context.Context, base string, p *partialInfo) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	k := base + "json"
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String("application/json"),
		ServerSideEncryption: s.opts.SSE, SSEKMSKeyId: nonEmpty(s.opts.KMSKeyID)})
	return err
}

// StatPartial implements blob.PartialStore.
func (s *Store) StatPartial(ctx context.Context, key string) (blob.Partial, error) {
	_, base, err := s.partialKeys(key)
	if err != nil {
		return blob.Partial{}, fmt.Errorf("s3blob: stat partial: %w", err)
	}
	p, err := s.readPartial(ctx, base)
	if err != nil {
		return blob.Partial{}, wrap(ctx, "stat partial", key, err)
	}
	return p.partial(), nil
}

// WritePartial implements blob.PartialStore. The S3 requests run to
// their end (bounded by commitTimeout each) even when ctx is cancelled,
// so that what was read is kept.
func (s *Store) WritePartial(ctx context.Context, key string, offset int64, r io.Reader) (int64, error) {
	obj, base, err := s.partialKeys(key)
	if err != nil {
		return 0, fmt.Errorf("s3blob: write partial: %w", err)
	}
	unlock, ok := lockPartial(base)
	if !ok {
		return 0, fmt.Errorf("s3blob: write partial %q: another write is in flight: %w", key, blob.ErrOffsetMismatch)
	}
	defer unlock()
	p, err := s.readPartial(ctx, base)
	if err != nil {
		return 0, wrap(ctx, "write partial", key, err)
	}
	if p.Complete || p.Offset != offset {
		return 0, fmt.Errorf("s3blob: write partial %q at %d, holds %d: %w", key, offset, p.Offset, blob.ErrOffsetMismatch)
	}
	w, err := s.newPartWriter(ctx, obj, p)
	if err != nil {
		return 0, wrap(ctx, "write partial", key, err)
	}
	readErr := w.readFrom(blob.ContextReader(ctx, r))
	n, err := w.save(base)
	if err != nil {
		return n, wrap(ctx, "write partial", key, err)
	}
	if readErr != nil {
		return n, fmt.Errorf("s3blob: write partial %q: %w", key, readErr)
	}
	return n, nil
}

// partWriter gathers a write's bytes into parts.
type partWriter struct {
	s       *Store
	ctx     context.Context // not cancelled with the write's
	obj     string
	p       *partialInfo
	h       hash
	buf     []byte
	hashed  int   // buf[:hashed] is in the hash (the old tail)
	n       int64 // bytes read
	kept    int64 // bytes read and stored (parts)
	oldTail string
	err     error // an S3 failure
}

type hash interface {
	io.Writer
	Sum([]byte) []byte
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

func (s *Store) newPartWriter(ctx context.Context, obj string, p *partialInfo) (*partWriter, error) {
	w := &partWriter{s: s, ctx: context.WithoutCancel(ctx), obj: obj, p: p, h: sha256.New().(hash),
		buf: make([]byte, 0, s.opts.PartSize), oldTail: p.TailKey}
	if err := w.h.UnmarshalBinary(p.Hash); err != nil {
		return nil, err
	}
	if p.TailKey != "" {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &p.TailKey})
		if err != nil {
			return nil, err
		}
		w.buf, err = io.ReadAll(io.LimitReader(out.Body, s.opts.PartSize))
		_ = out.Body.Close()
		if err != nil {
			return nil, err
		}
		w.buf = slices.Grow(w.buf, int(s.opts.PartSize)-len(w.buf))
		if int64(len(w.buf)) != p.Tail {
			return nil, fmt.Errorf("tail of %d bytes, recorded %d", len(w.buf), p.Tail)
		}
		w.hashed = len(w.buf)
	}
	return w, nil
}

// readFrom reads r up to the partial's size, uploading each full part,
// and returns how r ended (nil at its end). Reading more than the size
// is an error.
func (w *partWriter) readFrom(r io.Reader) error {
	start := w.p.Offset
	for w.err == nil {
		room := min(int64(cap(w.buf)-len(w.buf)), w.p.Size-start-w.n)
		if room == 0 {
			if start+w.n == w.p.Size {
				break
			}
			w.flushPart()
			continue
		}
		m, err := r.Read(w.buf[len(w.buf) : len(w.buf)+int(room)])
		w.buf = w.buf[:len(w.buf)+m]
		w.n += int64(m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if w.err != nil {
		return nil
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return fmt.Errorf("more than the declared %d bytes", w.p.Size)
	}
	return nil
}

// flushPart uploads buf as the next part.
func (w *partWriter) flushPart() {
	_, _ = w.h.Write(w.buf[w.hashed:])
	n := int32(len(w.p.Parts) + 1)
	ctx, cancel := context.WithTimeout(w.ctx, commitTimeout)
	defer cancel()
	out, err := w.s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &w.s.bucket, Key: &w.obj, UploadId: &w.p.UploadID,
		PartNumber: aws.Int32(n), Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf)))})
	if err != nil {
		w.err = err
		// The hash must cover only stored bytes: roll it back.
		_ = w.h.UnmarshalBinary(w.p.Hash)
		return
	}
	w.p.Parts = append(w.p.Parts, s3Part{N: n, ETag: aws.ToString(out.ETag), Size: int64(len(w.buf))})
	w.kept += int64(len(w.buf) - w.hashed)
	w.p.Offset += int64(len(w.buf)) - w.p.Tail
	w.p.Tail, w.p.TailKey, w.hashed = 0, "", 0
	w.buf = w.buf[:0]
	w.p.Hash, _ = w.h.MarshalBinary()
}

// save stores what is left in buf (the last part, or a tail), then the
// bookkeeping, and removes the tail the write started from; it returns
// how many of the bytes read are kept.
func (w *partWriter) save(base string) (int64, error) {
	ctx, cancel := context.WithTimeout(w.ctx, commitTimeout)
	defer cancel()
	if w.err == nil && len(w.buf) > 0 {
		if w.p.Offset-w.p.Tail+int64(len(w.buf)) == w.p.Size {
			w.flushPart()
		} else {
			w.putTail(ctx, base)
		}
	}
	if err := w.s.writePartialInfo(ctx, base, w.p); err != nil {
		return 0, err
	}
	if w.oldTail != "" && w.oldTail != w.p.TailKey {
		_, _ = w.s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.s.bucket, Key: &w.oldTail})
	}
	return w.kept, w.err
}

// putTail stores buf as the tail object.
func (w *partWriter) putTail(ctx context.Context, base string) {
	end := w.p.Offset - w.p.Tail + int64(len(w.buf))
	k := base + "tail-" + strconv.FormatInt(end, 10)
	_, err := w.s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &w.s.bucket, Key: &k, Body: bytes.NewReader(w.buf),
		ContentLength: aws.Int64(int64(len(w.buf))), ServerSideEncryption: w.s.opts.SSE, SSEKMSKeyId: nonEmpty(w.s.opts.KMSKeyID)})
	if err != nil {
		w.err = err
		return
	}
	_, _ = w.h.Write(w.buf[w.hashed:])
	w.kept += int64(len(w.buf) - w.hashed)
	w.p.Offset = end
	w.p.TailKey, w.p.Tail = k, int64(len(w.buf))
	w.p.Hash, _ = w.h.MarshalBinary()
}

// CompletePartial implements blob.PartialStore.
func (s *Store) CompletePartial(ctx context.Context, key string) (blob.Attrs, error) {
	obj, base, err := s.partialKeys(key)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("s3blob: complete partial: %w", err)
	}
	p, err := s.readPartial(ctx, base)
	if err != nil {
		return blob.Attrs{}, wrap(ctx, "complete partial", key, err)
	}
	if !p.Complete {
		if p.Offset != p.Size || p.Tail != 0 {
			return blob.Attrs{}, fmt.Errorf("s3blob: complete partial %q: %d of %d bytes: %w", key, p.Offset, p.Size, blob.ErrIncomplete)
		}
		if err := s.completeUpload(ctx, obj, p); err != nil {
			return blob.Attrs{}, wrap(ctx, "complete partial", key, err)
		}
		h := sha256.New().(hash)
		if err := h.UnmarshalBinary(p.Hash); err != nil {
			return blob.Attrs{}, err
		}
		p.Complete, p.ETag = true, hex.EncodeToString(h.Sum(nil))
		if err := s.writePartialInfo(ctx, base, p); err != nil {
			return blob.Attrs{}, wrap(ctx, "complete partial", key, err)
		}
	}
	attrs, err := s.Head(ctx, key)
	if err != nil {
		return blob.Attrs{}, err
	}
	attrs.ETag = p.ETag
	return attrs, nil
}

// completeUpload completes the multipart upload; one completed before
// (by a process that died before recording it) counts as done.
func (s *Store) completeUpload(ctx context.Context, obj string, p *partialInfo) error {
	parts := make([]types.CompletedPart, len(p.Parts))
	for i, pt := range p.Parts {
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(pt.N), ETag: aws.String(pt.ETag)}
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &obj,
		UploadId: &p.UploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil && apiCode(err) == "NoSuchUpload" {
		if a, herr := s.Head(ctx, p.Key); herr == nil && a.Size == p.Size {
			return nil
		}
	}
	return err
}

// DeletePartial implements blob.PartialStore.
func (s *Store) DeletePartial(ctx context.Context, key string) error {
	obj, base, err := s.partialKeys(key)
	if err != nil {
		return fmt.Errorf("s3blob: delete partial: %w", err)
	}
	// Not while this process writes it: the write would save its
	// bookkeeping again, naming the aborted multipart upload.
	unlock, ok := lockPartial(base)
	if !ok {
		return fmt.Errorf("s3blob: delete partial %q: a write is in flight: %w", key, blob.ErrOffsetMismatch)
	}
	defer unlock()
	p, err := s.readPartial(ctx, base)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return nil
	case err != nil:
		return wrap(ctx, "delete partial", key, err)
	}
	if !p.Complete {
		s.abort(ctx, obj, p.UploadID)
	}
	// Every bookkeeping object, stale tails included; the info last.
	var keys []string
	pg := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(base + "tail-")})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return wrap(ctx, "delete partial", key, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	for _, k := range append(keys, base+"json") {
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil && !isNotFound(err) {
			return wrap(ctx, "delete partial", key, err)
		}
	}
	return nil
}

// ListPartials implements blob.PartialStore.
func (s *Store) ListPartials(ctx context.Context, cutoff time.Time, fn func(blob.Partial) error) error {
	pg := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + partialDir + "/")})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3blob: list partials: %w", err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if !strings.HasSuffix(k, ".json") {
				continue
			}
			p, err := s.readPartial(ctx, strings.TrimSuffix(k, "json"))
			if err != nil || !p.Created.Before(cutoff) {
				continue // removed meanwhile, or not due
			}
			if err := fn(p.partial()); err != nil {
				return err
			}
		}
	}
	return nil
}
