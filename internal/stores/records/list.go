package records

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

// Limits of ListImages.
const (
	// DefaultPageSize is the page size of a query that gives none.
	DefaultPageSize = 100
	// MaxPageSize is the largest page a query may ask for.
	MaxPageSize = 1000
	// MaxListExamined is the most records one ListImages call examines,
	// matching or not: a page whose filter leaves out many records ends
	// short (even empty) with a token to continue, rather than reading the
	// whole tenant in one call. It is above MaxPageSize, so a page of
	// records that all match is always full.
	MaxListExamined = 1024
)

// ListQuery is what ListImages lists: a tenant's images, newest first (ids
// are time-ordered), of one batch and/or in one state, a page at a time.
type ListQuery struct {
	// Tenant owns the images; "" is DefaultTenant.
	Tenant string
	// BatchID, if set, lists only that batch of the tenant's.
	BatchID string
	// State, if set, lists only images in that state; unset lists every
	// state but DELETED (a deleted image's tombstone is listed only when
	// asked for by its state).
	State pb.ImageState
	// PageSize is 1..MaxPageSize; 0 or less means DefaultPageSize, more is
	// cut to MaxPageSize.
	PageSize int
	// PageToken is "" for the first page, else the NextPageToken of the
	// previous page of the same query.
	PageToken string
}

// Size returns the query's page size, defaulted and capped.
func (q ListQuery) Size() int {
	if q.PageSize <= 0 {
		return DefaultPageSize
	}
	return min(q.PageSize, MaxPageSize)
}

// Matches reports whether an image in state st belongs in the listing.
func (q ListQuery) Matches(st pb.ImageState) bool {
	if q.State == pb.ImageState_IMAGE_STATE_UNSPECIFIED {
		return st != pb.ImageState_IMAGE_STATE_DELETED
	}
	return st == q.State
}

// ScopedBatch is the query's batch as drivers index it (see Scoped).
func (q ListQuery) ScopedBatch() string { return Scoped(q.Tenant, q.BatchID) }

// TenantKey is the query's tenant as drivers index it: DefaultTenant for "".
func (q ListQuery) TenantKey() string {
	if q.Tenant == "" {
		return DefaultTenant
	}
	return q.Tenant
}

// fingerprint names the query a token continues (tenant, batch, state),
// so a token is refused by any other query; it does not show the tenant.
func (q ListQuery) fingerprint() string {
	sum := sha256.Sum256([]byte(q.TenantKey() + "\x00" + q.BatchID + "\x00" + strconv.Itoa(int(q.State))))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// listToken is the JSON inside a ListImages page token: a version, the
// query's fingerprint and the id the next page starts after.
type listToken struct {
	V     int    `json:"v"`
	Query string `json:"q"`
	After string `json:"a"`
}

// ListToken returns the token of q's page that continues after image id.
func ListToken(q ListQuery, after string) string {
	b, _ := json.Marshal(listToken{V: 1, Query: q.fingerprint(), After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// ListAfter returns the id q's page token continues after ("" for the
// first page). A token that is malformed, of another version, or of
// another query or tenant is ErrInvalidToken.
func ListAfter(q ListQuery) (string, error) {
	if q.PageToken == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(q.PageToken)
	if err != nil {
		return "", fmt.Errorf("%w: not base64url", ErrInvalidToken)
	}
	var t listToken
	if err := json.Unmarshal(raw, &t); err != nil || t.V != 1 || t.After == "" {
		return "", fmt.Errorf("%w: not a version 1 token", ErrInvalidToken)
	}
	if t.Query != q.fingerprint() {
		return "", fmt.Errorf("%w: a token of another query", ErrInvalidToken)
	}
	// The drivers start their reads at it (DynamoDB's ExclusiveStartKey):
	// only an image id as the store makes them, lower-case UUID.
	if u, err := uuid.Parse(t.After); err != nil || len(t.After) != 36 || u.String() != t.After {
		return "", fmt.Errorf("%w: not an image id to continue after", ErrInvalidToken)
	}
	return t.After, nil
}

// PageBuilder makes one page of a listing from the records a driver reads
// newest first, counting what it examines against MaxListExamined.
type PageBuilder struct {
	q        ListQuery
	size     int
	examined int
	page     Page
	lastID   string // the last record examined
	done     bool
}

// NewPageBuilder starts a page of q.
func NewPageBuilder(q ListQuery) *PageBuilder {
	return &PageBuilder{q: q, size: q.Size()}
}

// Room returns how many more records the call may examine: 0 once the
// page is full or the budget spent.
func (b *PageBuilder) Room() int {
	if b.done || len(b.page.Records) >= b.size {
		return 0
	}
	return MaxListExamined - b.examined
}

// Offer examines the next record, of image id in state st; decode is
// called only if it matches. It returns false, examining nothing, when
// the page takes no more: the page then continues after the last record
// examined.
func (b *PageBuilder) Offer(id string, st pb.ImageState, decode func() (*Record, error)) (bool, error) {
	if b.Room() == 0 {
		b.done = true
		return false, nil
	}
	b.examined++
	b.lastID = id
	if !b.q.Matches(st) {
		return true, nil
	}
	rec, err := decode()
	if err != nil {
		return false, err
	}
	b.page.Records = append(b.page.Records, rec)
	return true, nil
}

// Skipped counts n records a driver examined and left out itself (a
// DynamoDB filter expression), the last of them image lastID.
func (b *PageBuilder) Skipped(n int, lastID string) {
	b.examined += n
	if lastID != "" {
		b.lastID = lastID
	}
}

// Page returns the page; more says whether records may follow the last
// one examined, which makes the page's NextPageToken.
func (b *PageBuilder) Page(more bool) Page {
	p := b.page
	if (more || b.done) && b.lastID != "" {
		p.NextPageToken = ListToken(b.q, b.lastID)
	}
	return p
}
