package imaging

import (
	"archive/zip"
	"bytes"
	"testing"
)

func TestPolyglotKind(t *testing.T) {
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x55}, 5000)...)
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("a.txt")
	w.Write([]byte("hello"))
	zw.SetComment("a comment")
	zw.Close()
	withZip := append(append([]byte(nil), jpeg...), zbuf.Bytes()...)

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"plain", jpeg, ""},
		{"zip appended (with a comment)", withZip, "zip"},
		{"zip, then one more byte", append(append([]byte(nil), withZip...), 0), ""},
		{"eocd signature in the data, lengths do not match", append(append([]byte(nil), jpeg...), "PK\x05\x06"+string(make([]byte, 30))...), ""},
		{"pdf header early", append([]byte("%PDF-1.4\n"), jpeg...), "pdf"},
		{"pdf header within the first KiB", append(append(append([]byte(nil), jpeg[:900]...), "%PDF-1.4"...), jpeg[900:]...), "pdf"},
		{"pdf header late", append(append([]byte(nil), jpeg...), "%PDF-1.4"...), ""},
		{"tiny", []byte("PK"), ""},
		{"empty", nil, ""},
	}
	for _, c := range cases {
		if got := polyglotKind(c.data); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
