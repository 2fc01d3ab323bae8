package blobtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

func testGetRange(t *testing.T, newStore NewStore) {
	s := newStore(t)
	content := make([]byte, 100)
	for i := range content {
		content[i] = byte(i)
	}
	a := put(t, s, "range", content, blob.PutOptions{ContentType: "application/x-test"})
	tests := []struct {
		offset, length int64
		want           []byte
	}{
		{10, 20, content[10:30]}, // middle
		{0, -1, content},         // whole
		{90, -1, content[90:]},   // to the end
		{90, 50, content[90:]},   // past the end is truncated
		{99, 1, content[99:]},    // last byte
		{0, 1, content[:1]},      // first byte
		{50, 0, nil},             // empty
		{100, -1, nil},           // offset at the end
		{100, 10, nil},           // offset at the end, with length
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("offset=%d,length=%d", tc.offset, tc.length), func(t *testing.T) {
			rc, got, err := s.GetRange(t.Context(), "range", tc.offset, tc.length)
			if err != nil {
				t.Fatalf("GetRange: %v", err)
			}
			if b := readClose(t, rc); !bytes.Equal(b, tc.want) {
				t.Errorf("GetRange = %v, want %v", b, tc.want)
			}
			sameAttrs(t, "GetRange", got, a) // Size is the whole object's
		})
	}
	for _, offset := range []int64{-1, 101, 1 << 40} {
		rc, _, err := s.GetRange(t.Context(), "range", offset, 10)
		if err == nil {
			rc.Close()
		}
		if !errors.Is(err, blob.ErrInvalidRange) {
			t.Errorf("GetRange(offset %d) error = %v, want ErrInvalidRange", offset, err)
		}
	}
}
