package blob

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is the maximum key length in bytes (the S3 limit).
const MaxKeyLength = 1024

// ValidateKey reports whether key is safe for every driver. A valid key is
// non-empty valid UTF-8 of at most MaxKeyLength bytes made of '/'-separated
// segments, none of them empty, "." or ".."; it has no leading or trailing
// '/', no backslash and no control characters (C0, DEL or C1). Errors wrap
// ErrInvalidKey.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidKey, len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q starts with '/'", ErrInvalidKey, key)
	}
	for _, r := range key {
		if r == '\\' {
			return fmt.Errorf("%w: %q contains a backslash", ErrInvalidKey, key)
		}
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("%w: %q contains control character %U", ErrInvalidKey, key, r)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty path segment", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q path segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}
