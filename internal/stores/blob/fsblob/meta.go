package fsblob

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

// metadata is the JSON sidecar stored for each object.
type metadata struct {
	Version      int    `json:"v"`
	Key          string `json:"key"`
	ContentType  string `json:"content_type"`
	CacheControl string `json:"cache_control,omitempty"`
	ETag         string `json:"etag"`
	Size         int64  `json:"size"`
	// Inode is the data file's inode number (0 where unknown); together
	// with Size it ties the sidecar to one version of the data file.
	Inode uint64 `json:"inode,omitempty"`
}

const metadataVersion = 1

func (m *metadata) attrs(fi os.FileInfo) blob.Attrs {
	return blob.Attrs{
		Key:          m.Key,
		Size:         fi.Size(),
		ContentType:  m.ContentType,
		ETag:         m.ETag,
		ModTime:      fi.ModTime().UTC(),
		CacheControl: m.CacheControl,
	}
}

// matches reports whether m describes the data file fi.
func (m *metadata) matches(fi os.FileInfo) bool {
	if m.Size != fi.Size() {
		return false
	}
	ino, ok := inode(fi)
	return !ok || m.Inode == ino
}

func readMeta(path string) (*metadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("fsblob: decode metadata %s: %w", filepath.Base(path), err)
	}
	return &m, nil
}

// writeMeta atomically replaces the sidecar at path.
func writeMeta(path string, m *metadata) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}
