// Package sqlitedeliveries is the embedded webhook delivery log: a table
// webhook_deliveries in the status store's SQLite file, shared safely by
// several processes on a machine (see internal/platform/sqlitedb).
//
// URL: the status store's, sqlite:///path/to/status.db. The table sits
// beside sqliterecords' images table in the same file; either may be opened
// first.
//
// The tenant column came after the table: New adds it to a table made
// before it, whose deliveries keep it NULL and so belong to the default
// tenant.
package sqlitedeliveries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/sqlitedb"
	"github.com/imagepipe/imagepipe/internal/stores/deliveries"
	"google.golang.org/protobuf/proto"
)

func init() {
	deliveries.Register("sqlite", sqlitedb.Opener(func(path string) (deliveries.Store, error) { return New(path) }))
}

var _ deliveries.Store = (*Store)(nil)

// Page sizes: the default, for pageSize 0, and the most one page holds.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// Store is a deliveries.Store on SQLite.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// created is the create time in unix microseconds, the listing order;
// image_id and batch_id are NULL when empty, so the partial indexes hold only
// deliveries that have them; tenant is NULL when empty too (see tenantExpr).
const schema = `
CREATE TABLE IF NOT EXISTS webhook_deliveries (
	id       TEXT PRIMARY KEY,
	version  INTEGER NOT NULL,
	state    INTEGER NOT NULL,
	image_id TEXT,
	batch_id TEXT,
	created  INTEGER NOT NULL,
	record   BLOB NOT NULL, -- protobuf imagepipe.v1.WebhookDelivery
	tenant   TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_created ON webhook_deliveries(created, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_state ON webhook_deliveries(state, created, id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_image ON webhook_deliveries(image_id, created, id) WHERE image_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_batch ON webhook_deliveries(batch_id, created, id) WHERE batch_id IS NOT NULL;
`

// addTenant adds the tenant column to a table made before tenants; the
// deliveries it holds get NULL, so they are the default tenant's.
const addTenant = `ALTER TABLE webhook_deliveries ADD COLUMN tenant TEXT`

// tenantExpr is a row's tenant as Filter.Tenant matches it: NULL (no
// tenant) is the default tenant. Queries must spell it exactly so, for
// SQLite to use the index on it.
const tenantExpr = `coalesce(tenant, '` + deliveries.DefaultTenant + `')`

// tenantIndex serves a tenant's listing, the default tenant's too, as one
// range read newest first.
const tenantIndex = `
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_tenant ON webhook_deliveries(` + tenantExpr + `, created, id);
`

// New opens (creating if needed) the status database at path and its
// webhook_deliveries table, adding the tenant column to a table made before
// it existed.
func New(path string) (*Store, error) {
	db, err := sqlitedb.OpenSchema(path, "sqlitedeliveries", migrate)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now}, nil
}

// migrate creates the table and its indexes, or brings an older table up to
// date, in one transaction: the write lock it takes at once (sqlitedb's
// immediate transactions) makes processes opening the file together take
// turns, so only one of them adds the column.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	var hasTenant bool
	err = tx.QueryRow(`SELECT count(*) > 0 FROM pragma_table_info('webhook_deliveries') WHERE name = 'tenant'`).Scan(&hasTenant)
	if err != nil {
		return err
	}
	if !hasTenant {
		if _, err := tx.Exec(addTenant); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(tenantIndex); err != nil {
		return err
	}
	return tx.Commit()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Create implements deliveries.Store. The listing position is the
// delivery's create_time, or the current time when it has none.
func (s *Store) Create(ctx context.Context, d *pb.WebhookDelivery) (*deliveries.Record, error) {
	if d.GetId() == "" {
		return nil, errors.New("sqlitedeliveries: delivery without id")
	}
	data, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("sqlitedeliveries: encode: %w", err)
	}
	created := s.now()
	if d.GetCreateTime() != nil {
		created = d.GetCreateTime().AsTime()
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO webhook_deliveries (id, version, state, image_id, batch_id, tenant, created, record)
		 VALUES (?, 1, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		d.GetId(), int32(d.GetState()), nullable(d.GetImageId()), nullable(d.GetBatchId()), nullable(d.GetTenant()),
		created.UnixMicro(), data)
	if err != nil {
		return nil, fmt.Errorf("sqlitedeliveries: create %s: %w", d.GetId(), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("sqlitedeliveries: create %s: %w", d.GetId(), deliveries.ErrExists)
	}
	return &deliveries.Record{Delivery: proto.Clone(d).(*pb.WebhookDelivery), Version: 1}, nil
}

// Get implements deliveries.Store.
func (s *Store) Get(ctx context.Context, id string) (*deliveries.Record, error) {
	var (
		version int64
		data    []byte
	)
	err := s.db.QueryRowContext(ctx, `SELECT version, record FROM webhook_deliveries WHERE id = ?`, id).Scan(&version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlitedeliveries: get %s: %w", id, deliveries.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitedeliveries: get %s: %w", id, err)
	}
	return decode(version, data)
}

func decode(version int64, data []byte) (*deliveries.Record, error) {
	d := &pb.WebhookDelivery{}
	if err := proto.Unmarshal(data, d); err != nil {
		return nil, fmt.Errorf("sqlitedeliveries: decode: %w", err)
	}
	return &deliveries.Record{Delivery: d, Version: version}, nil
}

// Update implements deliveries.Store. State, image, batch and tenant are
// taken from the new record; the listing position stays that of Create.
func (s *Store) Update(ctx context.Context, rec *deliveries.Record) (*deliveries.Record, error) {
	d := rec.Delivery
	data, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("sqlitedeliveries: encode: %w", err)
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE webhook_deliveries SET version = version + 1, state = ?, image_id = ?, batch_id = ?, tenant = ?, record = ?
		 WHERE id = ? AND version = ?`,
		int32(d.GetState()), nullable(d.GetImageId()), nullable(d.GetBatchId()), nullable(d.GetTenant()),
		data, d.GetId(), rec.Version)
	if err != nil {
		return nil, fmt.Errorf("sqlitedeliveries: update %s: %w", d.GetId(), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, d.GetId()); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("sqlitedeliveries: update %s at version %d: %w", d.GetId(), rec.Version, deliveries.ErrConflict)
	}
	return &deliveries.Record{Delivery: proto.Clone(d).(*pb.WebhookDelivery), Version: rec.Version + 1}, nil
}

// List implements deliveries.Store: newest first by create time, then by id
// descending. A delivery without a tenant is the default tenant's. The page
// token is the last position returned and the filter, as base64url JSON.
func (s *Store) List(ctx context.Context, f deliveries.Filter, pageSize int, token string) (deliveries.Page, error) {
	if pageSize < 0 || pageSize > maxPageSize {
		return deliveries.Page{}, fmt.Errorf("sqlitedeliveries: page size %d not in 0..%d", pageSize, maxPageSize)
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	q, args, err := listQuery(f, token)
	if err != nil {
		return deliveries.Page{}, err
	}
	rows, err := s.db.QueryContext(ctx, q, append(args, pageSize+1)...)
	if err != nil {
		return deliveries.Page{}, fmt.Errorf("sqlitedeliveries: list: %w", err)
	}
	defer rows.Close()
	return readPage(rows, f, pageSize)
}

// listQuery is the SELECT of the deliveries f matches after the token's
// position, newest first, and its arguments but for the closing LIMIT's.
func listQuery(f deliveries.Filter, token string) (string, []any, error) {
	where, args := filterWhere(f)
	if token != "" {
		created, id, err := deliveries.DecodeToken(token, f)
		if err != nil {
			return "", nil, fmt.Errorf("sqlitedeliveries: %w", err)
		}
		where, args = append(where, "(created, id) < (?, ?)"), append(args, created, id)
	}
	q := `SELECT id, version, created, record FROM webhook_deliveries`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created DESC, id DESC LIMIT ?"
	return q, args, nil
}

// filterWhere is f as WHERE conditions and their arguments.
func filterWhere(f deliveries.Filter) (where []string, args []any) {
	if f.State != 0 {
		where, args = append(where, "state = ?"), append(args, int32(f.State))
	}
	if f.ImageID != "" {
		where, args = append(where, "image_id = ?"), append(args, f.ImageID)
	}
	if f.BatchID != "" {
		where, args = append(where, "batch_id = ?"), append(args, f.BatchID)
	}
	if f.Tenant != "" {
		where, args = append(where, tenantExpr+" = ?"), append(args, f.Tenant)
	}
	return where, args
}

// readPage decodes up to pageSize deliveries from rows; a row past them
// means there is more, and gives the page a token to go on.
func readPage(rows *sql.Rows, f deliveries.Filter, pageSize int) (deliveries.Page, error) {
	var (
		page        deliveries.Page
		lastCreated int64
		lastID      string
	)
	for rows.Next() {
		var (
			id      string
			version int64
			created int64
			data    []byte
		)
		if err := rows.Scan(&id, &version, &created, &data); err != nil {
			return deliveries.Page{}, fmt.Errorf("sqlitedeliveries: list: %w", err)
		}
		if len(page.Records) == pageSize {
			page.NextPageToken = deliveries.EncodeToken(f, lastCreated, lastID)
			break
		}
		rec, err := decode(version, data)
		if err != nil {
			return deliveries.Page{}, err
		}
		page.Records = append(page.Records, rec)
		lastCreated, lastID = created, id
	}
	if err := rows.Err(); err != nil {
		return deliveries.Page{}, fmt.Errorf("sqlitedeliveries: list: %w", err)
	}
	return page, nil
}

// Close implements deliveries.Store.
func (s *Store) Close() error { return s.db.Close() }
