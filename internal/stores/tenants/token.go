package tenants

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// keyToken is the JSON inside a ListKeys page token: a version, the tenant
// listed ("" for all) and the last key returned.
type keyToken struct {
	V          int    `json:"v"`
	Tenant     string `json:"t,omitempty"`
	LastTenant string `json:"lt"`
	LastID     string `json:"id"`
}

// EncodeKeyToken is the ListKeys page token of a listing of tenant ("" for
// every tenant's) that goes on after the key last, as base64url JSON. The
// drivers share it.
func EncodeKeyToken(tenant string, last Key) string {
	b, _ := json.Marshal(keyToken{V: 1, Tenant: tenant, LastTenant: last.Tenant, LastID: last.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeKeyToken returns the key (its Tenant and ID) a page token of a
// listing of tenant goes on after. A token that is malformed, of another
// version or of another listing is ErrInvalidToken.
func DecodeKeyToken(token, tenant string) (Key, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Key{}, fmt.Errorf("%w: not base64url", ErrInvalidToken)
	}
	var t keyToken
	if err := json.Unmarshal(raw, &t); err != nil || t.V != 1 || t.LastID == "" || t.LastTenant == "" {
		return Key{}, fmt.Errorf("%w: not a version 1 token", ErrInvalidToken)
	}
	if t.Tenant != tenant || (tenant != "" && t.LastTenant != tenant) {
		return Key{}, fmt.Errorf("%w: made for another listing", ErrInvalidToken)
	}
	return Key{Tenant: t.LastTenant, ID: t.LastID}, nil
}
