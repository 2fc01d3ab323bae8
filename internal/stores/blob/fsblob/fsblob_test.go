package fsblob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/blobtest"
	"github.com/imagepipe/imagepipe/internal/stores/blob/fsblob"
)

func newStore(t *testing.T) *fsblob.Store {
	t.Helper()
	s, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
}

// files lists the regular files under dir, relative and slash-separated.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFailedPutLeavesNoFiles(t *testing.T) {
	s := newStore(t)
	if _, err := s.Put(t.Context(), "kept", strings.NewReader("x"), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := files(t, filepath.Join(s.Root(), "objects"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	bodies := []io.Reader{
		io.MultiReader(strings.NewReader("partial data"), iotestErrReader{}),
		&cancelAfterFirstRead{cancel: cancel},
	}
	for i, body := range bodies {
		for _, key := range []string{"kept", "new/deep/key"} {
			c := t.Context()
			if i == 1 {
				c = ctx
			}
			if _, err := s.Put(c, key, body, blob.PutOptions{}); err == nil {
				t.Fatalf("Put(%q) with failing body %d succeeded", key, i)
			}
		}
	}
	for _, sub := range []string{"objects", "meta"} {
		for _, f := range files(t, filepath.Join(s.Root(), sub)) {
			if strings.HasSuffix(f, ".tmp") {
				t.Errorf("temporary file %s/%s left behind", sub, f)
			}
		}
	}
	if after := files(t, filepath.Join(s.Root(), "objects")); !slicesEqual(after, before) {
		t.Errorf("objects after failed puts = %v, want %v", after, before)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

type cancelAfterFirstRead struct{ cancel context.CancelFunc }

func (r *cancelAfterFirstRead) Read(p []byte) (int, error) {
	r.cancel()
	return copy(p, "data"), nil
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestLayout(t *testing.T) {
	s := newStore(t)
	long := strings.Repeat("L", 201)
	for _, key := range []string{"a", "a/b", "x.d/y.blob", long + "/z", "q/" + long} {
		if _, err := s.Put(t.Context(), key, strings.NewReader(key), blob.PutOptions{ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256([]byte(long))
	hashed := hex.EncodeToString(sum[:])
	want := []string{
		"a.blob", "a.d/b.blob", "x.d.d/y.blob.blob",
		hashed + ".hd/z.blob", "q.d/" + hashed + ".hblob",
	}
	for _, sub := range []string{"objects", "meta"} {
		got := files(t, filepath.Join(s.Root(), sub))
		for _, w := range want {
			if !strings.Contains("\x00"+strings.Join(got, "\x00")+"\x00", "\x00"+w+"\x00") {
				t.Errorf("%s/%s missing; have %v", sub, w, got)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s holds %d files, want %d: %v", sub, len(got), len(want), got)
		}
	}
	meta, err := os.ReadFile(filepath.Join(s.Root(), "meta", "a.d", "b.blob"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(meta, []byte(`"content_type":"text/plain"`)) || !bytes.Contains(meta, []byte(`"key":"a/b"`)) {
		t.Errorf("metadata sidecar = %s, want JSON with key and content type", meta)
	}
}

// TestRepairsStaleMetadata simulates a crash between the metadata and the
// data rename, and a lost sidecar: reads recompute the metadata.
func TestRepairsStaleMetadata(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Put(ctx, "k", strings.NewReader("old content"), blob.PutOptions{ContentType: "text/old", CacheControl: "no-store"}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(s.Root(), "objects", "k.blob")
	meta := filepath.Join(s.Root(), "meta", "k.blob")

	// Data replaced behind the metadata's back (a new inode, other size).
	writeReplace(t, data, "content written without its metadata")
	wantETag(t, s, "k", "content written without its metadata", "text/old", "no-store")

	// Same size, new inode.
	writeReplace(t, data, "content written without its metadatA")
	wantETag(t, s, "k", "content written without its metadatA", "text/old", "no-store")

	// Sidecar lost entirely.
	if err := os.Remove(meta); err != nil {
		t.Fatal(err)
	}
	wantETag(t, s, "k", "content written without its metadatA", blob.DefaultContentType, "")
	if _, err := os.Stat(meta); err != nil {
		t.Errorf("metadata not rewritten: %v", err)
	}
}

func writeReplace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".x.tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func wantETag(t *testing.T, s *fsblob.Store, key, content, ct, cc string) {
	t.Helper()
	rc, a, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	want := blob.Attrs{Key: key, Size: int64(len(content)), ContentType: ct, ETag: hex.EncodeToString(sum[:]), CacheControl: cc, ModTime: a.ModTime}
	if string(b) != content || a != want {
		t.Errorf("Get = %q %+v, want %q %+v", b, a, content, want)
	}
}

// TestCopiedStore checks that a store copied elsewhere (new inodes) still
// serves its objects with their metadata.
func TestCopiedStore(t *testing.T) {
	s := newStore(t)
	put, err := s.Put(t.Context(), "dir/k", strings.NewReader("hello"), blob.PutOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(s.Root())); err != nil {
		t.Fatal(err)
	}
	c, err := fsblob.New(dst)
	if err != nil {
		t.Fatal(err)
	}
	wantETag(t, c, "dir/k", "hello", "text/plain", "")
	if h, err := c.Head(t.Context(), "dir/k"); err != nil || h.ETag != put.ETag {
		t.Errorf("Head on copy = %+v, %v; want ETag %q", h, err, put.ETag)
	}
}

// TestTwoStoresOneRoot uses two Store values on one directory, as two
// processes would: concurrent writers end with one complete version.
func TestTwoStoresOneRoot(t *testing.T) {
	root := t.TempDir()
	var stores [2]*fsblob.Store
	for i := range stores {
		s, err := fsblob.New(root)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	const n = 6
	contents := make([]string, n)
	etags := map[string]string{}
	for i := range contents {
		contents[i] = strings.Repeat(fmt.Sprint(i), 10000+i)
		sum := sha256.Sum256([]byte(contents[i]))
		etags[contents[i]] = hex.EncodeToString(sum[:])
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := stores[i%2]
			for range 5 {
				if _, err := s.Put(t.Context(), "shared", strings.NewReader(contents[i]), blob.PutOptions{ContentType: fmt.Sprint("v/", i)}); err != nil {
					t.Error(err)
					return
				}
				rc, a, err := stores[(i+1)%2].Get(t.Context(), "shared")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if etags[string(b)] != a.ETag || a.ContentType != "v/"+string(b[:1]) {
					t.Errorf("read %d bytes with attrs %+v: content and metadata disagree", len(b), a)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRootFromURL(t *testing.T) {
	tests := []struct {
		url     string
		want    string
		wantErr string
	}{
		{url: "file:///var/lib/blobs", want: "/var/lib/blobs"},
		{url: "file://localhost/var/lib/blobs", want: "/var/lib/blobs"},
		{url: "file:///with%20space/%3Fq", want: "/with space/?q"},
		{url: "file://./rel/dir", want: "./rel/dir"},
		{url: "file://../up", want: "../up"},
		{url: "file:rel/dir", want: "rel/dir"},
		{url: "file:rel%23x", want: "rel#x"},
		{url: "file:/abs", want: "/abs"},
		{url: "file://host/x", wantErr: "host"},
		{url: "file:///x?sync=1", wantErr: "query"},
		{url: "file:///x#frag", wantErr: "fragment"},
		{url: "file://", wantErr: "no path"},
		{url: "file://user@localhost/x", wantErr: "user info"},
		{url: "s3://bucket/x", wantErr: "scheme"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fsblob.RootFromURL(u)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("RootFromURL(%q) = %q, %v; want an error mentioning %q", tc.url, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != filepath.FromSlash(tc.want) {
			t.Errorf("RootFromURL(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, raw := range []string{"file://./rel", "file:rel", "file://" + filepath.ToSlash(filepath.Join(dir, "rel"))} {
		s, err := blob.Open(t.Context(), raw)
		if err != nil {
			t.Fatalf("Open(%q): %v", raw, err)
		}
		fs, ok := s.(*fsblob.Store)
		if !ok {
			t.Fatalf("Open(%q) returned %T", raw, s)
		}
		if want := filepath.Join(dir, "rel"); fs.Root() != want {
			t.Errorf("Open(%q) root = %q, want %q", raw, fs.Root(), want)
		}
		if _, err := s.Put(t.Context(), "k", strings.NewReader(raw), blob.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "rel", "objects", "k.blob")); err != nil {
		t.Errorf("object not under the URL's directory: %v", err)
	}
}

// Opening a store removes the temporary files crashed writes left, once
// older than TempGrace; fresher ones (another process's write in flight)
// and the objects stay.
func TestNewRemovesStaleTempFiles(t *testing.T) {
	root := t.TempDir()
	s, err := fsblob.New(root)
	if err != nil {
		t.Fatal(err)
	}
	fsblob.WaitCleanedUp(s)
	ctx := context.Background()
	if _, err := s.Put(ctx, "img/a", strings.NewReader("data"), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := files(t, root)
	old := time.Now().Add(-fsblob.TempGrace - time.Minute)
	var stale, fresh []string
	for _, dir := range []string{"objects/img.d", "meta/img.d", "objects"} {
		for _, name := range []string{".put-1.tmp", ".put-2.tmp"} {
			p := filepath.Join(root, filepath.FromSlash(dir), name)
			if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
			if name == ".put-1.tmp" {
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
				stale = append(stale, dir+"/"+name)
			} else {
				fresh = append(fresh, dir+"/"+name)
			}
		}
	}
	reopened, err := fsblob.New(root)
	if err != nil {
		t.Fatal(err)
	}
	fsblob.WaitCleanedUp(reopened)
	got := files(t, root)
	for _, f := range stale {
		if slices.Contains(got, f) {
			t.Errorf("stale temporary file %s kept", f)
		}
	}
	for _, f := range append(fresh, before...) {
		if !slices.Contains(got, f) {
			t.Errorf("%s removed", f)
		}
	}
	if rc, _, err := s.Get(ctx, "img/a"); err != nil {
		t.Errorf("object after the clean-up: %v", err)
	} else {
		rc.Close()
	}
}
