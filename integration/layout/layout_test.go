// Package layout checks the repository against ARCHITECTURE.md's code map.
package layout

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const root = "../.."

// codeMap returns the folders ARCHITECTURE.md's code map names.
func codeMap(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)## Code map.*?```\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("ARCHITECTURE.md has no code map block")
	}
	dirs := map[string]bool{}
	for _, line := range strings.Split(string(block[1]), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasSuffix(f[0], "/") {
			dirs[strings.TrimSuffix(f[0], "/")] = true
		}
	}
	return dirs
}

// Every folder the map names exists, and every Go package outside gen/ and
// scripts/ is named in it.
func TestCodeMapMatchesTree(t *testing.T) {
	mapped := codeMap(t)
	for dir := range mapped {
		if st, err := os.Stat(filepath.Join(root, dir)); err != nil || !st.IsDir() {
			t.Errorf("the code map names %s/, which is not a folder", dir)
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || d.Name() == "node_modules" ||
			rel == "gen" || rel == "scripts" || rel == "bin" || rel == "data") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !mapped[filepath.ToSlash(filepath.Dir(rel))] {
			t.Errorf("%s: package %s/ is not in ARCHITECTURE.md's code map", rel, filepath.ToSlash(filepath.Dir(rel)))
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
