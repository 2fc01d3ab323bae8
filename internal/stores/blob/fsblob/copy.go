package fsblob

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// A Put copies its body through putBufs buffers of putBufSize bytes, so
// that hashing and writing overlap instead of running in turn: while the
// file is written from one buffer (by another goroutine), the next is read
// and hashed. Memory stays at putBufs*putBufSize per Put in flight, the
// buffers being reused from one Put to the next.
//
// Every writebackEvery bytes written to a file, the kernel is asked to
// start writing them to the disk (startWriteback), so that the fsync that
// ends a large Put overlaps the copy instead of following it.
const (
	putBufSize     = 256 << 10
	putBufs        = 4
	writebackEvery = 8 << 20
)

var putBufPool = sync.Pool{New: func() any {
	b := make([]byte, putBufSize)
	return &b
}}

// filled is a buffer and how much of it holds data.
type filled struct {
	buf *[]byte
	n   int
}

// copyHashing copies src to dst and returns how many bytes it copied and
// their SHA-256. A read error (io.EOF aside) or a write error ends it
// with that error.
func copyHashing(dst io.Writer, src io.Reader) (int64, []byte, error) {
	h := sha256.New()
	n, err := copyHashingAt(dst, 0, src, h)
	if err != nil {
		return n, nil, err
	}
	return n, h.Sum(nil), nil
}

// copyHashingAt is copyHashing into h, for a dst whose writes start at
// offset base (a partial object's file, appended to).
func copyHashingAt(dst io.Writer, base int64, src io.Reader, h hash.Hash) (int64, error) {
	free := make(chan *[]byte, putBufs)
	for range putBufs {
		free <- putBufPool.Get().(*[]byte)
	}
	full := make(chan filled, putBufs)
	w := &bufWriter{dst: dst, base: base, free: free, done: make(chan struct{})}
	go w.run(full)

	size, rerr := readHashing(src, h, free, full, &w.failed)
	close(full)
	<-w.done
	for range putBufs {
		putBufPool.Put(<-free)
	}
	if w.err != nil {
		return size, w.err
	}
	return size, rerr
}

// readHashing fills free buffers from src, hashes them and hands them to
// full, until src ends (nil), fails (its error), or the writer failed
// (nil: the writer's error is the one to report).
func readHashing(src io.Reader, h hash.Hash, free chan *[]byte, full chan<- filled, failed *atomic.Bool) (int64, error) {
	var size int64
	for !failed.Load() {
		buf := <-free
		n, err := fill(src, *buf)
		if n > 0 {
			h.Write((*buf)[:n])
			size += int64(n)
			full <- filled{buf, n}
		} else {
			free <- buf
		}
		switch {
		case errors.Is(err, io.EOF):
			return size, nil
		case err != nil:
			return size, err
		}
	}
	return size, nil
}

// fill reads until buf is full or src fails; only io.EOF is a clean end
// (io.ReadFull would take a reader's own io.ErrUnexpectedEOF for one).
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// bufWriter writes the buffers it is handed and gives them back; after
// its first error it only gives them back.
type bufWriter struct {
	dst    io.Writer
	base   int64 // dst's offset of the first byte written
	free   chan<- *[]byte
	failed atomic.Bool
	err    error // read after done
	done   chan struct{}
}

func (w *bufWriter) run(full <-chan filled) {
	defer close(w.done)
	f, _ := w.dst.(*os.File)
	var written, flushed int64
	for b := range full {
		if w.err == nil {
			if _, err := w.dst.Write((*b.buf)[:b.n]); err != nil {
				w.err = err
				w.failed.Store(true)
			}
			written += int64(b.n)
			if f != nil && written-flushed >= writebackEvery {
				startWriteback(f, w.base+flushed, written-flushed)
				flushed = written
			}
		}
		w.free <- b.buf
	}
}
