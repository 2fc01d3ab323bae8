package imaging

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// source is an original as the engine reads it: bytes in memory (Process)
// or an open file (ProcessFile). Go reads only its ends (the magic bytes
// and the polyglot check, headAt and tail); libvips reads the rest itself
// through a VipsSource (vipsSource): over the memory in place, or from a
// descriptor of the file, so a file is never copied into the Go heap.
// libheif, which reads only from memory, gets the file mapped (mapped).
type source struct {
	mem  []byte
	file *os.File
	size int64
}

// errRead wraps a failure to read a file source: not the input's fault.
var errRead = errors.New("imaging: read the original")

// memSource is a source over src.
func memSource(src []byte) *source { return &source{mem: src, size: int64(len(src))} }

// fileSource is a source over f, whose size is taken now: the file must not
// change while it is read (a blob store replaces a file, it never rewrites
// one in place).
func fileSource(f *os.File) (*source, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("imaging: stat the original: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("imaging: the original is not a regular file")
	}
	return &source{file: f, size: fi.Size()}, nil
}

// readAt returns up to n bytes from off (fewer at the end).
func (s *source) readAt(off int64, n int) ([]byte, error) {
	n = int(max(0, min(int64(n), s.size-off)))
	if s.file == nil {
		return s.mem[off : off+int64(n)], nil
	}
	b := make([]byte, n)
	if _, err := s.file.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, fmt.Errorf("%w: %w", errRead, err)
	}
	return b, nil
}

// head returns the first n bytes (fewer for a shorter source).
func (s *source) head(n int) ([]byte, error) { return s.readAt(0, n) }

// tail returns the last n bytes (all of a shorter source).
func (s *source) tail(n int) ([]byte, error) { return s.readAt(max(0, s.size-int64(n)), n) }

// mapped returns the whole source as bytes: the memory itself, or the file
// mapped read-only (outside the Go heap; its pages are the page cache's),
// and a function that unmaps it.
func (s *source) mapped() ([]byte, func(), error) {
	if s.file == nil {
		return s.mem, func() {}, nil
	}
	b, unmap, err := mapFile(s.file, s.size)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errRead, err)
	}
	return b, unmap, nil
}
