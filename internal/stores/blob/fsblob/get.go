package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Attrs, error) {
	f, a, err := s.open(ctx, "get", key)
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	return f, a, nil
}

// GetRange implements blob.Store.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Attrs, error) {
	f, a, err := s.open(ctx, "get range", key)
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	if offset < 0 || offset > a.Size {
		_ = f.Close()
		return nil, blob.Attrs{}, fmt.Errorf("fsblob: get range %q: offset %d of %d bytes: %w", key, offset, a.Size, blob.ErrInvalidRange)
	}
	if length < 0 || length > a.Size-offset {
		length = a.Size - offset
	}
	return &sectionReadCloser{Reader: io.NewSectionReader(f, offset, length), Closer: f}, a, nil
}

// Head implements blob.Store.
func (s *Store) Head(ctx context.Context, key string) (blob.Attrs, error) {
	f, a, err := s.open(ctx, "head", key)
	if err != nil {
		return blob.Attrs{}, err
	}
	_ = f.Close()
	return a, nil
}

// Delete implements blob.Store. The data goes first, so a crash in between
// leaves only an orphan sidecar, which the next Put of the key replaces.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return fmt.Errorf("fsblob: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsblob: delete %q: %w", key, err)
	}
	p := s.paths(key)
	unlock, err := s.lock(p.rel)
	if err != nil {
		return fmt.Errorf("fsblob: delete %q: %w", key, err)
	}
	defer unlock()
	s.metas.remove(key)
	for _, name := range []string{p.data, p.meta} {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fsblob: delete %q: %w", key, err)
		}
	}
	if err := syncDir(filepath.Dir(p.data)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: delete %q: sync directory: %w", key, err)
	}
	return nil
}

// open opens the data file of key together with matching metadata.
func (s *Store) open(ctx context.Context, op, key string) (*os.File, blob.Attrs, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, blob.Attrs{}, fmt.Errorf("fsblob: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, blob.Attrs{}, fmt.Errorf("fsblob: %s %q: %w", op, key, err)
	}
	p, ok := s.metas.paths(key)
	if !ok {
		p = s.paths(key)
	}
	f, a, err := s.openConsistent(p, key, false)
	if errors.Is(err, errMismatch) {
		// A commit is in progress or a crash interrupted one: settle it
		// under the commit lock.
		var unlock func()
		if unlock, err = s.lock(p.rel); err == nil {
			f, a, err = s.openConsistent(p, key, true)
			unlock()
		}
	}
	if err != nil {
		return nil, blob.Attrs{}, fmt.Errorf("fsblob: %s %q: %w", op, key, err)
	}
	return f, a, nil
}

var errMismatch = errors.New("metadata does not match data")

// openConsistent opens the data file and finds its metadata: in the cache
// while neither file changed, else in the sidecar. With repair set (the
// caller holds the commit lock), metadata that does not describe the data
// file is recomputed from the data; otherwise errMismatch results.
func (s *Store) openConsistent(p paths, key string, repair bool) (*os.File, blob.Attrs, error) {
	f, err := openData(p.data)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.Attrs{}, blob.ErrNotFound
	}
	if err != nil {
		return nil, blob.Attrs{}, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = blob.ErrNotFound
	}
	if err != nil {
		_ = f.Close()
		return nil, blob.Attrs{}, err
	}
	m, err := s.meta(p, key, fi)
	if err == nil && m.matches(fi) {
		return f, m.attrs(fi), nil
	}
	if !repair {
		_ = f.Close()
		return nil, blob.Attrs{}, errMismatch
	}
	if m, err = rebuildMeta(f, fi, key, m); err == nil {
		err = writeMeta(p.meta, m)
	}
	if err != nil {
		_ = f.Close()
		return nil, blob.Attrs{}, fmt.Errorf("rebuild metadata: %w", err)
	}
	return f, m.attrs(fi), nil
}

// meta returns the metadata in key's sidecar, from the cache while the
// sidecar and the data file fi are those it was read with. Metadata read
// from the sidecar is cached once it matches fi. The sidecar is identified
// before it is read: one replaced in between is read again next time.
func (s *Store) meta(p paths, key string, fi os.FileInfo) (*metadata, error) {
	dataID, ok := identify(fi)
	if !ok {
		return readMeta(p.meta)
	}
	sfi, err := os.Stat(p.meta)
	if err != nil {
		return nil, err
	}
	sideID, _ := identify(sfi)
	if m, ok := s.metas.get(key, dataID, sideID); ok {
		return m, nil
	}
	m, err := readMeta(p.meta)
	if err == nil && m.matches(fi) {
		s.metas.add(key, p, dataID, sideID, m)
	}
	return m, err
}

// rebuildMeta recomputes the metadata of the data file f, keeping content
// type and cache control from the stale metadata old, if any, and leaves f
// positioned at its start.
func rebuildMeta(f *os.File, fi os.FileInfo, key string, old *metadata) (*metadata, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ino, _ := inode(fi)
	m := &metadata{
		Version:     metadataVersion,
		Key:         key,
		ContentType: blob.DefaultContentType,
		ETag:        hex.EncodeToString(h.Sum(nil)),
		Size:        fi.Size(),
		Inode:       ino,
	}
	if old != nil {
		m.ContentType, m.CacheControl = old.ContentType, old.CacheControl
	}
	return m, nil
}

type sectionReadCloser struct {
	io.Reader
	io.Closer
}
