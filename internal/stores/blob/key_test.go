package blob_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/blob"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"a", true},
		{"images/2024/01/cat.jpg", true},
		{"a.b/c..d/...", true},
		{".hidden/x", true},
		{"ünïcödé/日本/😀", true},
		{"with space/and?query#frag%20", true},
		{strings.Repeat("k", blob.MaxKeyLength), true},
		{"", false},
		{strings.Repeat("k", blob.MaxKeyLength+1), false},
		{"/leading", false},
		{"trailing/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"./a", false},
		{"a/.", false},
		{"a/../b", false},
		{`back\slash`, false},
		{"nul\x00", false},
		{"newline\n", false},
		{"tab\t", false},
		{"del\x7f", false},
		{"c1\u0085", false},
		{"bad utf8 \xff", false},
	}
	for _, tc := range tests {
		err := blob.ValidateKey(tc.key)
		if tc.valid && err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", tc.key, err)
		}
		if !tc.valid && !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", tc.key, err)
		}
	}
}
