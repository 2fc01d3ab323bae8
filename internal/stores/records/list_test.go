package records_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// ListAfter takes back only the tokens ListToken made for the same query,
// continuing after an image id; anything else is ErrInvalidToken.
func TestListAfter(t *testing.T) {
	const id = "01a245bc-749f-7b79-8ee2-bb12e0e42756"
	q := records.ListQuery{Tenant: "acme", BatchID: "trip"}
	other := records.ListQuery{Tenant: "globex", BatchID: "trip"}
	forged := func(after string) string {
		// A token of q whose id was edited by hand.
		return base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"q":"` + fingerprintOf(t, q) + `","a":"` + after + `"}`))
	}
	for _, c := range []struct {
		name, token, want string
		bad               bool
	}{
		{"first page", "", "", false},
		{"own token", records.ListToken(q, id), id, false},
		{"another tenant's", records.ListToken(other, id), "", true},
		{"not base64", "%%%", "", true},
		{"edited id", forged("img#x"), "", true},
		{"upper-case id", forged("01A245BC-749F-7B79-8EE2-BB12E0E42756"), "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			qq := q
			qq.PageToken = c.token
			got, err := records.ListAfter(qq)
			if bad := errors.Is(err, records.ErrInvalidToken); bad != c.bad || got != c.want {
				t.Errorf("ListAfter = %q, %v; want %q, invalid %v", got, err, c.want, c.bad)
			}
		})
	}
}

// fingerprintOf reads q's fingerprint out of a token ListToken made.
func fingerprintOf(t *testing.T, q records.ListQuery) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(records.ListToken(q, "x"))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Q string `json:"q"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Q == "" {
		t.Fatalf("token %s: %v", raw, err)
	}
	return tok.Q
}
