package fsblob

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
	"testing"
)

// copyHashing copies and hashes bodies of any size against its buffers.
func TestCopyHashing(t *testing.T) {
	for _, n := range []int{0, 1, putBufSize - 1, putBufSize, putBufSize + 1, 3*putBufs*putBufSize + 7} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			src := make([]byte, n)
			_, _ = rand.Read(src)
			var dst bytes.Buffer
			// A reader that gives little at a time, as a network does.
			size, sum, err := copyHashing(&dst, io.LimitReader(&oneByOne{b: src}, int64(n)))
			want := sha256.Sum256(src)
			if err != nil || size != int64(n) || !bytes.Equal(dst.Bytes(), src) || !bytes.Equal(sum, want[:]) {
				t.Errorf("copied %d bytes (%d written, equal %v), sum %x, %v; want %d, %x",
					size, dst.Len(), bytes.Equal(dst.Bytes(), src), sum, err, n, want)
			}
		})
	}
}

// oneByOne reads at most 1000 bytes at a time.
type oneByOne struct{ b []byte }

func (o *oneByOne) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1000)], o.b)
	o.b = o.b[n:]
	return n, nil
}

// A failed write ends the copy with its error, without reading the rest
// of the body; a failed read with the read's.
func TestCopyHashingErrors(t *testing.T) {
	errWrite, errRead := errors.New("disk full"), errors.New("client gone")
	body := &countingReader{}
	_, _, err := copyHashing(failingWriter{errWrite}, io.LimitReader(body, 1<<30))
	if !errors.Is(err, errWrite) || body.n > (putBufs+2)*putBufSize {
		t.Errorf("write error: %v after reading %d bytes; want %v after a few buffers", err, body.n, errWrite)
	}
	_, _, err = copyHashing(io.Discard, io.MultiReader(bytes.NewReader(make([]byte, 3*putBufSize)), errReader{errRead}))
	if !errors.Is(err, errRead) {
		t.Errorf("read error: %v; want %v", err, errRead)
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// countingReader gives zeros and counts them.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	clear(p)
	c.n += len(p)
	return len(p), nil
}
