// Package sqliterecords is the embedded status store: image records in one
// SQLite file, shared safely by several processes on a machine.
//
// URL: sqlite:///path/to/status.db
package sqliterecords

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/sqlitedb"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

func init() {
	records.Register("sqlite", sqlitedb.Opener(func(path string) (records.Store, error) { return New(path) }))
}

var _ records.Store = (*Store)(nil)

// Store is a records.Store on SQLite.
type Store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS images (
	id              TEXT PRIMARY KEY,
	batch_id        TEXT,
	idempotency_key TEXT UNIQUE,
	version         INTEGER NOT NULL,
	state           INTEGER NOT NULL,
	record          BLOB NOT NULL -- protobuf imagepipe.v1.Image
);
CREATE INDEX IF NOT EXISTS images_by_batch ON images(batch_id, id) WHERE batch_id IS NOT NULL;
`

// New opens (creating if needed) the status database at path.
func New(path string) (*Store, error) {
	db, err := sqlitedb.OpenSchema(path, "sqliterecords", sqlitedb.Exec(schema))
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Create implements records.Store.
func (s *Store) Create(ctx context.Context, img *pb.Image) (*records.Record, error) {
	if img.GetId() == "" {
		return nil, errors.New("sqliterecords: image without id")
	}
	data, err := proto.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: encode: %w", err)
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO images (id, batch_id, idempotency_key, version, state, record) VALUES (?, ?, ?, 1, ?, ?)
		 ON CONFLICT DO NOTHING`,
		img.GetId(), nullable(records.Scoped(img.GetTenant(), img.GetBatchId())),
		nullable(records.Scoped(img.GetTenant(), img.GetIdempotencyKey())), int32(img.GetState()), data)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: create %s: %w", img.GetId(), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, records.ErrExists
	}
	return &records.Record{Image: proto.Clone(img).(*pb.Image), Version: 1}, nil
}

func (s *Store) getWhere(ctx context.Context, where string, arg any) (*records.Record, error) {
	var (
		version int64
		data    []byte
	)
	err := s.db.QueryRowContext(ctx, `SELECT version, record FROM images WHERE `+where, arg).Scan(&version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, records.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: get: %w", err)
	}
	return decode(version, data)
}

func decode(version int64, data []byte) (*records.Record, error) {
	img := &pb.Image{}
	if err := proto.Unmarshal(data, img); err != nil {
		return nil, fmt.Errorf("sqliterecords: decode: %w", err)
	}
	return &records.Record{Image: img, Version: version}, nil
}

// Get implements records.Store.
func (s *Store) Get(ctx context.Context, id string) (*records.Record, error) {
	return s.getWhere(ctx, "id = ?", id)
}

// GetByIdempotencyKey implements records.Store.
func (s *Store) GetByIdempotencyKey(ctx context.Context, tenant, key string) (*records.Record, error) {
	if key == "" {
		return nil, records.ErrNotFound
	}
	return s.getWhere(ctx, "idempotency_key = ?", records.Scoped(tenant, key))
}

// Update implements records.Store.
func (s *Store) Update(ctx context.Context, rec *records.Record) (*records.Record, error) {
	data, err := proto.Marshal(rec.Image)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: encode: %w", err)
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE images SET version = version + 1, state = ?, record = ? WHERE id = ? AND version = ?`,
		int32(rec.Image.GetState()), data, rec.Image.GetId(), rec.Version)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: update %s: %w", rec.Image.GetId(), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, rec.Image.GetId()); err != nil {
			return nil, err
		}
		return nil, records.ErrConflict
	}
	return &records.Record{Image: proto.Clone(rec.Image).(*pb.Image), Version: rec.Version + 1}, nil
}

// ListByBatch implements records.Store. The page token is the last id
// returned, base64url-encoded behind a "v1:" tag so its form can change.
func (s *Store) ListByBatch(ctx context.Context, tenant, batchID string, pageSize int, pageToken string) (records.Page, error) {
	if pageSize <= 0 {
		pageSize = 100
	}
	after := ""
	if pageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || !strings.HasPrefix(string(raw), "v1:") || len(raw) == 3 {
			return records.Page{}, records.ErrInvalidToken
		}
		after = string(raw[3:])
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT version, record, id FROM images WHERE batch_id = ? AND id > ? ORDER BY id LIMIT ?`,
		records.Scoped(tenant, batchID), after, pageSize+1)
	if err != nil {
		return records.Page{}, fmt.Errorf("sqliterecords: list: %w", err)
	}
	defer rows.Close()
	var page records.Page
	var lastID string
	for rows.Next() {
		var (
			version int64
			data    []byte
			id      string
		)
		if err := rows.Scan(&version, &data, &id); err != nil {
			return records.Page{}, fmt.Errorf("sqliterecords: list: %w", err)
		}
		if len(page.Records) == pageSize {
			page.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte("v1:" + lastID))
			break
		}
		rec, err := decode(version, data)
		if err != nil {
			return records.Page{}, err
		}
		page.Records = append(page.Records, rec)
		lastID = id
	}
	if err := rows.Err(); err != nil {
		return records.Page{}, fmt.Errorf("sqliterecords: list: %w", err)
	}
	return page, nil
}

// Close implements records.Store.
func (s *Store) Close() error { return s.db.Close() }
