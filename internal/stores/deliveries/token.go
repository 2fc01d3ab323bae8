package deliveries

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// pageToken is the JSON inside a List page token: a version, the position
// to go on after (the delivery's create time in unix microseconds and id)
// and the filter it was made for.
type pageToken struct {
	V       int    `json:"v"`
	Created int64  `json:"c"`
	ID      string `json:"id"`
	State   int32  `json:"s,omitempty"`
	ImageID string `json:"i,omitempty"`
	BatchID string `json:"b,omitempty"`
	Tenant  string `json:"t,omitempty"`
}

// EncodeToken is the List page token of a listing by f that goes on after
// the delivery at (created, id), as base64url JSON. The drivers share it.
func EncodeToken(f Filter, created int64, id string) string {
	b, _ := json.Marshal(pageToken{V: 1, Created: created, ID: id,
		State: int32(f.State), ImageID: f.ImageID, BatchID: f.BatchID, Tenant: f.Tenant})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken returns the position a page token of a listing by f goes on
// after. A token that is malformed, of another version or of another filter
// is ErrInvalidToken.
func DecodeToken(token string, f Filter) (created int64, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", fmt.Errorf("%w: not base64url", ErrInvalidToken)
	}
	var t pageToken
	if err := json.Unmarshal(raw, &t); err != nil || t.V != 1 || t.ID == "" {
		return 0, "", fmt.Errorf("%w: not a version 1 token", ErrInvalidToken)
	}
	if t.State != int32(f.State) || t.ImageID != f.ImageID || t.BatchID != f.BatchID || t.Tenant != f.Tenant {
		return 0, "", fmt.Errorf("%w: made for another filter", ErrInvalidToken)
	}
	return t.Created, t.ID, nil
}
