package aws

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// templateFile is the stack's template as `make check-aws` synthesizes it.
var templateFile = filepath.Join("cdk.out", "Imagepipe.template.json")

// resource is one resource of a CloudFormation template.
type resource struct {
	Type       string          `json:"Type"`
	Properties json.RawMessage `json:"Properties"`
}

// loadTemplate reads the synthesized template's resources. Without it the
// test is skipped, or fails under IMAGEPIPE_REQUIRE_AWS=1 (make test
// synthesizes it first).
func loadTemplate(t *testing.T) map[string]resource {
	t.Helper()
	b, err := os.ReadFile(templateFile)
	if os.IsNotExist(err) {
		msg := templateFile + " missing: run make check-aws (it synthesizes the stack)"
		if os.Getenv(awstest.RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	return tpl.Resources
}

// ofType decodes the properties of every resource of type typ into T,
// keyed by logical id.
func ofType[T any](t *testing.T, res map[string]resource, typ string) map[string]T {
	t.Helper()
	out := map[string]T{}
	for id, r := range res {
		if r.Type != typ {
			continue
		}
		var v T
		if err := json.Unmarshal(r.Properties, &v); err != nil {
			t.Fatalf("%s %s: %v", typ, id, err)
		}
		out[id] = v
	}
	return out
}
