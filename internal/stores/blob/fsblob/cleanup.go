package fsblob

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TempGrace is how old a temporary file must be before the sweep New
// starts in the background removes it.
// A Put that crashed (SIGKILL, power loss) between creating its temporary
// file and renaming it leaves the file behind for ever; but the directory
// may be shared with other processes whose Puts are in flight, and their
// temporary files look the same. A Put writes its file continuously and
// renames it once done, so a file not modified for TempGrace belongs to no
// live Put: one stalled that long has its rename fail (the Put returns an
// error, nothing is half-written), which is what it deserves.
const TempGrace = time.Hour

// tempPrefix and tempSuffix frame the names tempPattern creates.
var tempPrefix, tempSuffix, _ = strings.Cut(tempPattern, "*")

// isTemp reports whether name is a temporary file's (tempPattern). No
// object or directory name can be one: see encodeKey.
func isTemp(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}

// removeStaleTemps removes the temporary files under objects/ and meta/
// last modified before cutoff. It is best effort: a file or directory that
// cannot be read or removed is counted and skipped, never fatal. It returns
// how many files it removed and how many it could not.
func (s *Store) removeStaleTemps(cutoff time.Time) (removed, failed int) {
	for _, d := range []string{objectsDir, metaDir} {
		_ = filepath.WalkDir(filepath.Join(s.root, d), func(p string, e fs.DirEntry, err error) error {
			switch {
			case err != nil:
				failed++
				return nil // skip what cannot be read; a directory is not descended
			case !e.Type().IsRegular() || !isTemp(e.Name()):
				return nil
			}
			fi, err := e.Info()
			if err != nil {
				if !os.IsNotExist(err) { // renamed or removed meanwhile: not stale
					failed++
				}
				return nil
			}
			if !fi.ModTime().Before(cutoff) {
				return nil
			}
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				failed++
				return nil
			}
			removed++
			return nil
		})
	}
	return removed, failed
}

// cleanUp removes the temporary files crashed Puts left (TempGrace) and
// logs how many; it logs no path, since paths are made of keys.
func (s *Store) cleanUp(now time.Time) {
	removed, failed := s.removeStaleTemps(now.Add(-TempGrace))
	if removed > 0 || failed > 0 {
		slog.Info("fsblob: removed temporary files left by interrupted writes",
			"root", s.root, "removed", removed, "failed", failed, "older_than", TempGrace)
	}
}
