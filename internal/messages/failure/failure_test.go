package failure_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/imagepipe/imagepipe/internal/messages/failure"
)

// The API documents the one list: every code in package failure is named
// in ImageError.code's comment, and the comment names no other.
func TestEveryCodeIsDocumentedInTheAPI(t *testing.T) {
	proto, err := os.ReadFile(filepath.Join("..", "..", "..", "proto", "imagepipe", "v1", "image.proto"))
	if err != nil {
		t.Fatal(err)
	}
	comment := regexp.MustCompile(`(?s)message ImageError \{(.*?)string code = 1;`).FindSubmatch(proto)
	if comment == nil {
		t.Fatal("ImageError.code not found in image.proto")
	}
	var documented []string
	for _, m := range regexp.MustCompile(`"([a-z_]+)"`).FindAllSubmatch(comment[1], -1) {
		documented = append(documented, string(m[1]))
	}
	for _, code := range failure.All {
		if !slices.Contains(documented, code) {
			t.Errorf("code %q is not documented on ImageError.code", code)
		}
	}
	for _, code := range documented {
		if !slices.Contains(failure.All, code) {
			t.Errorf("ImageError.code documents %q, which package failure does not define", code)
		}
	}
	if len(documented) != len(failure.All) {
		t.Errorf("documented %d codes, defined %d", len(documented), len(failure.All))
	}
}
