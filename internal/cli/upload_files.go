package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files of an upload run and what makes a rerun resume it: the
// arguments expanded to files, each file's idempotency key (from its
// content, the batch and the preset), and the batch id itself.

// imageExtensions are the files a directory walk uploads.
var imageExtensions = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".webp": true, ".gif": true, ".tif": true, ".tiff": true,
	".avif": true, ".heic": true, ".heif": true,
}

// uploadFile is one file to upload.
type uploadFile struct {
	path string
	size int64
	key  string // idempotency key, once hashed
	err  error  // reading the file failed
	// dupOf is an earlier file of this run with the same content: this
	// one is not uploaded.
	dupOf string
}

// idempotencyKey names one file's upload into batch with preset, so that a
// rerun finds it: "cli-" and 48 hex digits of
// sha256(batch "\x00" preset "\x00" hex(sha256(file))), with "\x00private"
// appended for a private upload (so that the same file uploaded public and
// private is two images, and public keys stay as they were).
func idempotencyKey(batch, preset string, private bool, fileSHA256 string) string {
	in := batch + "\x00" + preset + "\x00" + fileSHA256
	if private {
		in += "\x00private"
	}
	sum := sha256.Sum256([]byte(in))
	return "cli-" + hex.EncodeToString(sum[:])[:48]
}

// newBatchID makes up a batch id: cli-<UTC time>-<random>.
func newBatchID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "cli-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// fileSet gathers the files of a run, each once, and their total size.
type fileSet struct {
	files []uploadFile
	total int64
	seen  map[string]bool // absolute paths added
}

// add adds a file unless it is there already.
func (s *fileSet) add(path string, size int64) {
	if abs, err := filepath.Abs(path); err == nil {
		if s.seen[abs] {
			return
		}
		s.seen[abs] = true
	}
	s.files = append(s.files, uploadFile{path: path, size: size})
	s.total += size
}

// collectFiles expands the arguments: files as given, directories walked
// for image files. Other files under directories are reported on stderr.
func collectFiles(args []string, stderr io.Writer) ([]uploadFile, int64, error) {
	s := &fileSet{seen: map[string]bool{}}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, 0, err
		}
		if !st.IsDir() {
			s.add(arg, st.Size())
			continue
		}
		if err := s.addImages(arg, stderr); err != nil {
			return nil, 0, err
		}
	}
	return s.files, s.total, nil
}

// addImages walks dir and adds its image files.
func (s *fileSet) addImages(dir string, stderr io.Writer) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() || !imageExtensions[strings.ToLower(filepath.Ext(path))] {
			fmt.Fprintf(stderr, "imagepipe: skipping %s: not an image file\n", path)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s.add(path, info.Size())
		return nil
	})
}

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// markDuplicates sets dupOf on every file with the content of an earlier
// one, and returns how many different contents there are: the images the
// batch will hold. Once ctx is done no file is marked.
func markDuplicates(ctx context.Context, files []uploadFile) int {
	firstWith := map[string]string{}
	for i := range files {
		f := &files[i]
		switch first, dup := firstWith[f.key]; {
		case ctx.Err() != nil || f.err != nil:
		case dup:
			f.dupOf = first
		default:
			firstWith[f.key] = f.path
		}
	}
	return len(firstWith)
}
