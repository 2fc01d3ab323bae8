package fsblob

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
)

const (
	objectsDir = "objects"
	metaDir    = "meta"
	locksDir   = "locks"

	leafSuffix       = ".blob"
	dirSuffix        = ".d"
	hashedLeafSuffix = ".hblob"
	hashedDirSuffix  = ".hd"
	tempPattern      = ".put-*.tmp"

	// maxPlainSegment is the longest key segment stored under its own name.
	maxPlainSegment = 200
)

// paths locates one object on disk.
type paths struct {
	rel  string // encoded path relative to objects/ and meta/ (slash-separated)
	data string
	meta string
}

func (s *Store) paths(key string) paths {
	rel := encodeKey(key)
	native := filepath.FromSlash(rel)
	return paths{
		rel:  rel,
		data: filepath.Join(s.root, objectsDir, native),
		meta: filepath.Join(s.root, metaDir, native),
	}
}

// encodeKey maps a valid key to a relative file path. Leaf names end in
// ".blob" or ".hblob", directory names in ".d" or ".hd", temporary files in
// ".tmp": the sets are disjoint, so no key's file can be another key's
// directory or a temporary file.
func encodeKey(key string) string {
	segs := strings.Split(key, "/")
	last := len(segs) - 1
	for i, seg := range segs {
		plain, hashed := dirSuffix, hashedDirSuffix
		if i == last {
			plain, hashed = leafSuffix, hashedLeafSuffix
		}
		if len(seg) > maxPlainSegment {
			sum := sha256.Sum256([]byte(seg))
			segs[i] = hex.EncodeToString(sum[:]) + hashed
		} else {
			segs[i] = seg + plain
		}
	}
	return strings.Join(segs, "/")
}
