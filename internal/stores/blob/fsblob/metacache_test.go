package fsblob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
	"github.com/imagepipe/imagepipe/internal/stores/blob/fsblob"
)

// A reader's cached metadata never outlives the object it describes:
// whatever replaces or removes the object, this Store or another on the
// same root (another process), or a hand on the files, the next read
// sees it, however quickly it follows.
func TestMetadataCacheNeverStale(t *testing.T) {
	root := t.TempDir()
	reader, err := fsblob.New(root)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := fsblob.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	put := func(s *fsblob.Store, content, ct string) {
		t.Helper()
		if _, err := s.Put(ctx, "v/thumb", strings.NewReader(content), blob.PutOptions{ContentType: ct}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name    string
		change  func(i int) (content, ct string) // "" content: deleted
		repeats int
	}{
		{"overwritten here, same size", func(i int) (string, string) {
			c := fmt.Sprintf("version %04d", i)
			put(reader, c, "image/v"+fmt.Sprint(i))
			return c, "image/v" + fmt.Sprint(i)
		}, 50},
		{"overwritten by another store, same size", func(i int) (string, string) {
			c := fmt.Sprintf("version %04d", i)
			put(writer, c, "image/w"+fmt.Sprint(i))
			return c, "image/w" + fmt.Sprint(i)
		}, 50},
		{"deleted and put again by another store", func(i int) (string, string) {
			if err := writer.Delete(ctx, "v/thumb"); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				return "", ""
			}
			c := fmt.Sprintf("version %04d", i)
			put(writer, c, "image/d")
			return c, "image/d"
		}, 20},
		{"sidecar replaced by hand", func(i int) (string, string) {
			c := "by hand"
			put(writer, c, "image/before")
			replaceSidecar(t, root, "image/after"+fmt.Sprint(i))
			return c, "image/after" + fmt.Sprint(i)
		}, 10},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			for i := range st.repeats {
				content, ct := st.change(i)
				rc, a, err := reader.Get(ctx, "v/thumb")
				if content == "" {
					if !errors.Is(err, blob.ErrNotFound) {
						t.Fatalf("%d: Get of a deleted object: %v", i, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				sum := sha256.Sum256([]byte(content))
				if string(b) != content || a.ContentType != ct || a.ETag != hex.EncodeToString(sum[:]) || a.Size != int64(len(content)) {
					t.Fatalf("%d: Get = %q %+v, want %q of type %s", i, b, a, content, ct)
				}
			}
		})
	}
}

// replaceSidecar rewrites the object's sidecar with another content type,
// as fsblob does: a new file renamed into place.
func replaceSidecar(t *testing.T, root, ct string) {
	t.Helper()
	p := filepath.Join(root, "meta", "v.d", "thumb.blob")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"content_type":"image/before"`), []byte(`"content_type":"`+ct+`"`), 1)
	if err := os.WriteFile(p+".x.tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".x.tmp", p); err != nil {
		t.Fatal(err)
	}
}

// A hot object is served from the cache: a sidecar edited in place
// keeping its size and times (which fsblob never does) goes unseen,
// while one that changes its size is read again.
func TestMetadataCacheServes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", strings.NewReader("content"), blob.PutOptions{ContentType: "image/aaaa"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, "k"); err != nil { // cached
		t.Fatal(err)
	}
	p := filepath.Join(s.Root(), "meta", "k.blob")
	edit := func(from, to string) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write(bytes.Replace(b, []byte(from), []byte(to), 1))
		_ = f.Close()
		mt := fi.ModTime()
		if err := os.Chtimes(p, time.Time{}, mt); err != nil {
			t.Fatal(err)
		}
	}
	edit("image/aaaa", "image/bbbb") // same size and time: unseen
	if a, err := s.Head(ctx, "k"); err != nil || a.ContentType != "image/aaaa" {
		t.Errorf("after an edit in place: %+v, %v; want the cached image/aaaa", a, err)
	}
	edit("image/bbbb", "image/cc") // another size
	if a, err := s.Head(ctx, "k"); err != nil || a.ContentType != "image/cc" {
		t.Errorf("after a resized edit: %+v, %v; want image/cc", a, err)
	}
}
