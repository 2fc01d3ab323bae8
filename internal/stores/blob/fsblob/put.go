package fsblob

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// Put implements blob.Store. See the package documentation for how the
// write is made atomic.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) (blob.Attrs, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	p := s.paths(key)
	dir := filepath.Dir(p.data)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	size, sum, err := copyHashing(tmp, blob.ContextReader(ctx, r))
	if err == nil {
		err = tmp.Sync()
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = tmp.Stat()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}

	ct := opts.ContentType
	if ct == "" {
		ct = blob.DefaultContentType
	}
	ino, _ := inode(fi)
	m := &metadata{
		Version:      metadataVersion,
		Key:          key,
		ContentType:  ct,
		CacheControl: opts.CacheControl,
		ETag:         hex.EncodeToString(sum),
		Size:         size,
		Inode:        ino,
	}

	unlock, err := s.lock(p.rel)
	if err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	defer unlock()
	// Last chance to honour cancellation: past this point the write lands.
	if err := ctx.Err(); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	// Metadata first, so a visible object always has metadata.
	if err := writeMeta(p.meta, m); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: write metadata: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p.data); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: %w", key, err)
	}
	committed = true
	s.metas.remove(key)
	if err := syncDir(dir); err != nil {
		return blob.Attrs{}, fmt.Errorf("fsblob: put %q: sync directory: %w", key, err)
	}
	return m.attrs(fi), nil
}
