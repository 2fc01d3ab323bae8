package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Partial objects (blob.PartialStore) live in partials/ under the root,
// beside objects/ and meta/, so they are never objects: each is a data
// file "<h>.part" and a JSON record "<h>.json", h the hex SHA-256 of the
// key. A write appends to the data file under an flock(2) of it (a second
// writer fails at once), hashing and writing as Put does, and keeps the
// SHA-256 state in the record; CompletePartial takes the hash from there
// (or, if a write died before saving it, reads the file once), writes the
// object's metadata and renames the file into objects/, as Put commits
// its temporary file.
const partialsDir = "partials"

var _ blob.PartialStore = (*Store)(nil)

// partialRecord is the JSON record of a partial.
type partialRecord struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	Info         []byte    `json:"info,omitempty"`
	Created      time.Time `json:"created"`
	ContentType  string    `json:"content_type"`
	CacheControl string    `json:"cache_control,omitempty"`
	Complete     bool      `json:"complete,omitempty"`
	ETag         string    `json:"etag,omitempty"`
	// Hash is the marshalled SHA-256 state of the file's first HashAt
	// bytes, kept by each write; a write that died before saving it
	// leaves it behind the file, and completing then hashes the file.
	Hash   []byte `json:"hash,omitempty"`
	HashAt int64  `json:"hash_at,omitempty"`
}

func (s *Store) partialPaths(key string) (data, rec string) {
	sum := sha256.Sum256([]byte(key))
	base := filepath.Join(s.root, partialsDir, hex.EncodeToString(sum[:]))
	return base + ".part", base + ".json"
}

// CreatePartial implements blob.PartialStore.
func (s *Store) CreatePartial(ctx context.Context, key string, size int64, info []byte, opts blob.PutOptions) (blob.Partial, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Partial{}, fmt.Errorf("fsblob: create partial: %w", err)
	}
	if size < 0 || len(info) > blob.MaxPartialInfo {
		return blob.Partial{}, fmt.Errorf("fsblob: create partial %q: bad size or info", key)
	}
	if err := ctx.Err(); err != nil {
		return blob.Partial{}, err
	}
	data, recPath := s.partialPaths(key)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return blob.Partial{}, fmt.Errorf("fsblob: create partial %q: %w", key, err)
	}
	f, err := os.OpenFile(data, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return blob.Partial{}, fmt.Errorf("fsblob: create partial %q: %w", key, blob.ErrExists)
	}
	if err != nil {
		return blob.Partial{}, fmt.Errorf("fsblob: create partial %q: %w", key, err)
	}
	_ = f.Close()
	rec := &partialRecord{Key: key, Size: size, Info: info, Created: time.Now().UTC(),
		ContentType: opts.ContentType, CacheControl: opts.CacheControl}
	if rec.ContentType == "" {
		rec.ContentType = blob.DefaultContentType
	}
	if err := writeJSON(recPath, rec); err != nil {
		_ = os.Remove(data)
		return blob.Partial{}, fmt.Errorf("fsblob: create partial %q: %w", key, err)
	}
	return rec.partial(0), nil
}

func (r *partialRecord) partial(offset int64) blob.Partial {
	if r.Complete {
		offset = r.Size
	}
	return blob.Partial{Key: r.Key, Size: r.Size, Offset: offset, Info: r.Info, Created: r.Created,
		Complete: r.Complete, ETag: r.ETag}
}

func readPartialRecord(path string) (*partialRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r partialRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode partial record %s: %w", filepath.Base(path), err)
	}
	return &r, nil
}

// StatPartial implements blob.PartialStore.
func (s *Store) StatPartial(ctx context.Context, key string) (blob.Partial, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Partial{}, fmt.Errorf("fsblob: stat partial: %w", err)
	}
	data, recPath := s.partialPaths(key)
	rec, err := readPartialRecord(recPath)
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Partial{}, fmt.Errorf("fsblob: partial %q: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Partial{}, fmt.Errorf("fsblob: partial %q: %w", key, err)
	}
	if rec.Complete {
		return rec.partial(rec.Size), nil
	}
	fi, err := os.Stat(data)
	if errors.Is(err, fs.ErrNotExist) {
		// Renamed into place by a CompletePartial that died before it
		// marked the record.
		if attrs, herr := s.Head(ctx, key); herr == nil && attrs.Size == rec.Size {
			rec.Complete, rec.ETag = true, attrs.ETag
			return rec.partial(rec.Size), nil
		}
	}
	if err != nil {
		return blob.Partial{}, fmt.Errorf("fsblob: partial %q: %w", key, err)
	}
	return rec.partial(fi.Size()), nil
}

// WritePartial implements blob.PartialStore.
func (s *Store) WritePartial(ctx context.Context, key string, offset int64, r io.Reader) (int64, error) {
	p, err := s.StatPartial(ctx, key)
	if err != nil {
		return 0, err
	}
	if p.Complete {
		return 0, fmt.Errorf("fsblob: write partial %q: complete: %w", key, blob.ErrOffsetMismatch)
	}
	data, _ := s.partialPaths(key)
	f, err := os.OpenFile(data, os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("fsblob: write partial %q: %w", key, err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		return 0, fmt.Errorf("fsblob: write partial %q: another write is in flight: %w", key, blob.ErrOffsetMismatch)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("fsblob: write partial %q: %w", key, err)
	}
	// DeletePartial may have removed the file between the open and the
	// lock: writing to it then would bring the partial's record back
	// without its bytes.
	if cur, err := os.Stat(data); err != nil || !os.SameFile(fi, cur) {
		return 0, fmt.Errorf("fsblob: write partial %q: deleted: %w", key, blob.ErrNotFound)
	}
	if fi.Size() != offset {
		return 0, fmt.Errorf("fsblob: write partial %q at %d, holds %d: %w", key, offset, fi.Size(), blob.ErrOffsetMismatch)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("fsblob: write partial %q: %w", key, err)
	}
	_, recPath := s.partialPaths(key)
	rec, err := readPartialRecord(recPath)
	if err != nil {
		return 0, fmt.Errorf("fsblob: write partial %q: %w", key, err)
	}
	h, hashed := rec.hashAt(offset)
	// Never past the declared size: one byte more is an error.
	lr := &io.LimitedReader{R: blob.ContextReader(ctx, r), N: p.Size - offset + 1}
	n, err := copyHashingAt(f, offset, lr, h)
	if n > p.Size-offset {
		n, hashed = p.Size-offset, false
		_ = f.Truncate(p.Size)
		err = fmt.Errorf("fsblob: write partial %q: more than the declared %d bytes", key, p.Size)
	}
	if serr := f.Sync(); serr != nil && err == nil {
		err = serr
	}
	if hashed && n > 0 {
		// Best effort: without it, completing hashes the file.
		if rec.Hash, hashed = marshalHash(h); hashed {
			rec.HashAt = offset + n
			_ = writeJSON(recPath, rec)
		}
	}
	if err != nil {
		return n, fmt.Errorf("fsblob: write partial %q: %w", key, err)
	}
	return n, nil
}

// hashAt returns the SHA-256 state of the file's first offset bytes and
// true, or a fresh hash and false when the record holds no such state.
func (r *partialRecord) hashAt(offset int64) (hash.Hash, bool) {
	h := sha256.New()
	if offset == 0 {
		return h, true
	}
	u, ok := h.(encoding.BinaryUnmarshaler)
	return h, ok && r.HashAt == offset && u.UnmarshalBinary(r.Hash) == nil
}

func marshalHash(h hash.Hash) ([]byte, bool) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, false
	}
	b, err := m.MarshalBinary()
	return b, err == nil
}

// CompletePartial implements blob.PartialStore.
func (s *Store) CompletePartial(ctx context.Context, key string) (blob.Attrs, error) {
	p, err := s.StatPartial(ctx, key)
	if err != nil {
		return blob.Attrs{}, err
	}
	if p.Complete {
		return s.Head(ctx, key)
	}
	if p.Offset != p.Size {
		return blob.Attrs{}, fmt.Errorf("fsblob: complete partial %q: %d of %d bytes: %w", key, p.Offset, p.Size, blob.ErrIncomplete)
	}
	data, recPath := s.partialPaths(key)
	rec, err := readPartialRecord(recPath)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: complete partial %q: %w", key, err)
	}
	f, err := os.Open(data)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: complete partial %q: %w", key, err)
	}
	h, kept := rec.hashAt(rec.Size)
	if !kept { // a write died before saving the state: hash the file
		h = sha256.New()
		_, err = io.Copy(h, blob.ContextReader(ctx, f))
	}
	fi, serr := f.Stat()
	_ = f.Close()
	if err = errors.Join(err, serr); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: complete partial %q: %w", key, err)
	}
	ino, _ := inode(fi)
	m := &metadata{Version: metadataVersion, Key: key, ContentType: rec.ContentType, CacheControl: rec.CacheControl,
		ETag: hex.EncodeToString(h.Sum(nil)), Size: fi.Size(), Inode: ino}
	if err := s.commitFile(key, data, m); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: complete partial %q: %w", key, err)
	}
	rec.Complete, rec.ETag = true, m.ETag
	if err := writeJSON(recPath, rec); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: complete partial %q: %w", key, err)
	}
	return m.attrs(fi), nil
}

// commitFile makes the file at src the object key, as Put commits.
func (s *Store) commitFile(key, src string, m *metadata) error {
	p := s.paths(key)
	dir := filepath.Dir(p.data)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := s.lock(p.rel)
	if err != nil {
		return err
	}
	defer unlock()
	if err := writeMeta(p.meta, m); err != nil {
		return err
	}
	if err := os.Rename(src, p.data); err != nil {
		return err
	}
	s.metas.remove(key)
	return syncDir(dir)
}

// DeletePartial implements blob.PartialStore.
func (s *Store) DeletePartial(_ context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("fsblob: delete partial: %w", err)
	}
	data, recPath := s.partialPaths(key)
	// Not while a write is in flight (it holds the data file's lock): it
	// would write its record back after the removal.
	if f, err := os.OpenFile(data, os.O_WRONLY, 0); err == nil {
		defer f.Close()
		if err := tryLock(f); err != nil {
			return fmt.Errorf("fsblob: delete partial %q: a write is in flight: %w", key, blob.ErrOffsetMismatch)
		}
	}
	var errs []error
	for _, p := range []string{data, recPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fsblob: delete partial %q: %w", key, err)
	}
	return nil
}

// ListPartials implements blob.PartialStore.
func (s *Store) ListPartials(ctx context.Context, cutoff time.Time, fn func(blob.Partial) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, partialsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsblob: list partials: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := readPartialRecord(filepath.Join(s.root, partialsDir, e.Name()))
		if err != nil || !rec.Created.Before(cutoff) {
			continue // removed meanwhile, or not due
		}
		p, err := s.StatPartial(ctx, rec.Key)
		if err != nil {
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON atomically replaces the file at path with v's JSON.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
