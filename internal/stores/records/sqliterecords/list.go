package sqliterecords

import (
	"context"
	"fmt"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// ListImages implements records.Store. A batch is read from
// images_by_batch, one state of a tenant from images_by_tenant_state (so
// every record examined matches), the rest from images_by_tenant; a query
// reads at most records.MaxListExamined+1 rows and decodes only those that
// match.
func (s *Store) ListImages(ctx context.Context, q records.ListQuery) (records.Page, error) {
	after, err := records.ListAfter(q)
	if err != nil {
		return records.Page{}, err
	}
	where, args := listWhere(q)
	if after != "" {
		where += ` AND id < ?`
		args = append(args, after)
	}
	args = append(args, records.MaxListExamined+1)
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, state, version, record FROM images WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return records.Page{}, fmt.Errorf("sqliterecords: list: %w", err)
	}
	defer rows.Close()
	b := records.NewPageBuilder(q)
	more := false
	for rows.Next() {
		var (
			id      string
			state   int32
			version int64
			data    []byte
		)
		if err := rows.Scan(&id, &state, &version, &data); err != nil {
			return records.Page{}, fmt.Errorf("sqliterecords: list: %w", err)
		}
		ok, err := b.Offer(id, pb.ImageState(state), func() (*records.Record, error) { return decode(version, data) })
		if err != nil {
			return records.Page{}, err
		}
		if !ok {
			more = true
			break
		}
	}
	if err := rows.Err(); err != nil {
		return records.Page{}, fmt.Errorf("sqliterecords: list: %w", err)
	}
	return b.Page(more), nil
}

// listWhere is the condition of q's rows, before the page token's.
func listWhere(q records.ListQuery) (string, []any) {
	switch {
	case q.BatchID != "":
		return `batch_id = ?`, []any{q.ScopedBatch()}
	case q.State != pb.ImageState_IMAGE_STATE_UNSPECIFIED:
		return `tenant = ? AND state = ?`, []any{q.TenantKey(), int32(q.State)}
	default:
		return `tenant = ?`, []any{q.TenantKey()}
	}
}
