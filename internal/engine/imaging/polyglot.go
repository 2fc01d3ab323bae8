package imaging

import (
	"bytes"
	"encoding/binary"
)

// The ends of a file the polyglot check reads: a PDF reader's window at the
// start, a ZIP reader's at the end (the end-of-central-directory record
// and the longest comment it may have).
const (
	pdfWindow = 1024
	eocdLen   = 22
	zipWindow = eocdLen + 0xFFFF
)

// polyglotKind reports whether src, besides being an image, is also a file
// another program would open: a ZIP archive (JAR, DOCX, …: ZIP readers look
// for the end-of-central-directory record at the end of the file, so
// anything may precede it) or a PDF (readers accept "%PDF-" anywhere in the
// first KiB). It returns "" for neither.
//
// imagepipe never serves originals and re-encodes every variant, so a
// polyglot cannot reach a client through it; it is refused anyway because
// such a file is never an honest upload and other systems may pass the
// original on.
func polyglotKind(src []byte) string {
	return polyglotEnds(src[:min(len(src), pdfWindow)], src[max(0, len(src)-zipWindow):])
}

// polyglotEnds is polyglotKind of a file known by its first pdfWindow
// bytes (head) and its last zipWindow bytes (tail): all it reads.
func polyglotEnds(head, tail []byte) string {
	if zipAtEnd(tail) {
		return "zip"
	}
	if bytes.Contains(head[:min(len(head), pdfWindow)], []byte("%PDF-")) {
		return "pdf"
	}
	return ""
}

// zipAtEnd reports whether src ends with a ZIP end-of-central-directory
// record (signature PK\5\6, 22 bytes, then a comment whose length the record
// gives), exactly where a ZIP reader looks for one. Requiring the comment
// length to match the end of the file makes a chance match in compressed
// image data vanishingly unlikely (48 bits). Only the last zipWindow bytes
// of src are read.
func zipAtEnd(src []byte) bool {
	lo := max(0, len(src)-zipWindow)
	for i := len(src) - eocdLen; i >= lo; i-- {
		if src[i] != 'P' || src[i+1] != 'K' || src[i+2] != 5 || src[i+3] != 6 {
			continue
		}
		if comment := int(binary.LittleEndian.Uint16(src[i+20:])); i+eocdLen+comment == len(src) {
			return true
		}
	}
	return false
}
