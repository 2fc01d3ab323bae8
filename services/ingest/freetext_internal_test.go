package ingest

import (
	"strings"
	"testing"
)

// The form checks themselves, including invalid UTF-8, which gRPC refuses
// to marshal before a request reaches the service but an in-process call
// (the gateway's unary handlers) could carry.
func TestFreeTextForms(t *testing.T) {
	fileNames := map[string]bool{
		"grey.jpg":                              true,
		"photos/été/☕.jpg":                      true,
		`C:\dir\a.jpg`:                          true,
		"":                                      true,
		strings.Repeat("n", MaxFileNameBytes):   true,
		strings.Repeat("n", MaxFileNameBytes+1): false,
		"caf\xe9.jpg":                           false,
		"a\x00b":                                false,
		"a\tb":                                  false,
		"a\x7fb":                                false,
		"a\u0085b":                              false,
		strings.Repeat("é", MaxFileNameBytes/2+1): false, // bytes, not runes
	}
	for s, want := range fileNames {
		if got := validFileName(s); got != want {
			t.Errorf("validFileName(%q) = %v, want %v", s, got, want)
		}
	}
	contentTypes := map[string]bool{
		"image/jpeg":                 true,
		"image/svg+xml":              true,
		"IMAGE/PNG":                  true,
		"image/jpeg; charset=binary": true,
		`image/jpeg; name="a b.jpg"`: true,
		"image":                      false,
		"image/":                     false,
		"/jpeg":                      false,
		"image/jpeg; q":              false,
		"image/jpeg\x00":             false,
		"image/jpeg\r\nX: y":         false,
		"image/jpeg; name=\"\xe9\"":  false,
		"image/" + strings.Repeat("x", MaxContentTypeBytes-5): false,
		"image/" + strings.Repeat("x", MaxContentTypeBytes-6): true,
	}
	for s, want := range contentTypes {
		if got := validContentType(s); got != want {
			t.Errorf("validContentType(%q) = %v, want %v", s, got, want)
		}
	}
}
