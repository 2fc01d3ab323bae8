package fsblob

import (
	"os"

	lru "github.com/hashicorp/golang-lru/v2"
)

// metaCacheSize bounds the metadata kept in memory: a few hundred bytes
// each, so at most a few MiB.
const metaCacheSize = 8192

// metaCache keeps the metadata of recently read objects, so that serving
// a hot object reads no sidecar: an entry is used only while both its
// data file and its sidecar are the very files it was read from (see
// fileID), so an object replaced or deleted, by this process or another,
// is never described by a stale entry. It also keeps the key's paths.
type metaCache struct {
	lru *lru.Cache[string, *cachedMeta]
}

// cachedMeta is the metadata of one version of an object.
type cachedMeta struct {
	p          paths
	data, side fileID
	m          *metadata
}

func newMetaCache() metaCache {
	c, err := lru.New[string, *cachedMeta](metaCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return metaCache{lru: c}
}

// fileID identifies one version of a file. Put and the repair write new
// files and rename them into place, never rewriting one, so a replaced
// data file or sidecar has another inode; a freed inode number is reused
// only by a file written after the old one was gone, so (but for a write
// within one tick of the file system's clock, and then in both files at
// once) with another modification time.
type fileID struct {
	ino   uint64
	size  int64
	mtime int64
}

// identify is fi's fileID; false where inode numbers are unknown (no
// caching there).
func identify(fi os.FileInfo) (fileID, bool) {
	ino, ok := inode(fi)
	if !ok {
		return fileID{}, false
	}
	return fileID{ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}, true
}

// paths returns the cached paths of key, if any.
func (c metaCache) paths(key string) (paths, bool) {
	e, ok := c.lru.Peek(key)
	if !ok {
		return paths{}, false
	}
	return e.p, true
}

// get returns the metadata of key if the data file data and the sidecar
// side are the versions it was read from.
func (c metaCache) get(key string, data, side fileID) (*metadata, bool) {
	e, ok := c.lru.Get(key)
	if !ok || e.data != data || e.side != side {
		return nil, false
	}
	return e.m, true
}

func (c metaCache) add(key string, p paths, data, side fileID, m *metadata) {
	c.lru.Add(key, &cachedMeta{p: p, data: data, side: side, m: m})
}

func (c metaCache) remove(key string) { c.lru.Remove(key) }
