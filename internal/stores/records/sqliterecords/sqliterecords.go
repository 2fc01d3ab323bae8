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
	record          BLOB NOT NULL, -- protobuf imagepipe.v1.Image
	bseq            INTEGER,       -- the batch counter's seq of its last write
	tenant          TEXT           -- records.Tenant of the image
);
CREATE INDEX IF NOT EXISTS images_by_batch ON images(batch_id, id) WHERE batch_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS batches (
	batch_id TEXT PRIMARY KEY, -- as scoped in images.batch_id
	counter  TEXT NOT NULL     -- JSON of records.BatchCounter
);
`

// laterIndexes are made after the columns they index, which a file made
// before batch counters (bseq) or tenant listings (tenant) lacks until
// migrate adds them. ListImages reads a tenant newest first from
// images_by_tenant, and one state of it from images_by_tenant_state.
const laterIndexes = `
CREATE INDEX IF NOT EXISTS images_by_batch_seq ON images(batch_id, bseq) WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS images_by_tenant ON images(tenant, id);
CREATE INDEX IF NOT EXISTS images_by_tenant_state ON images(tenant, state, id);
`

// New opens (creating if needed) the status database at path.
func New(path string) (*Store, error) {
	db, err := sqlitedb.OpenSchema(path, "sqliterecords", migrate)
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

// Create implements records.Store. An image of a batch is counted in the
// batch's counter in the same transaction.
func (s *Store) Create(ctx context.Context, img *pb.Image) (*records.Record, error) {
	if img.GetId() == "" {
		return nil, errors.New("sqliterecords: image without id")
	}
	data, err := proto.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: encode: %w", err)
	}
	batch := records.Scoped(img.GetTenant(), img.GetBatchId())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		c, bseq, err := countWrite(ctx, tx, batch, nil, img)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO images (id, batch_id, idempotency_key, version, state, record, bseq, tenant) VALUES (?, ?, ?, 1, ?, ?, ?, ?)
			 ON CONFLICT DO NOTHING`,
			img.GetId(), nullable(batch), nullable(records.Scoped(img.GetTenant(), img.GetIdempotencyKey())),
			int32(img.GetState()), data, bseq, records.Tenant(img))
		if err != nil {
			return fmt.Errorf("sqliterecords: create %s: %w", img.GetId(), err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return records.ErrExists
		}
		return putCounter(ctx, tx, batch, c)
	})
	if err != nil {
		return nil, err
	}
	return &records.Record{Image: proto.Clone(img).(*pb.Image), Version: 1}, nil
}

// inTx runs fn in a transaction (BEGIN IMMEDIATE: see sqlitedb), committed
// if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqliterecords: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqliterecords: commit: %w", err)
	}
	return nil
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

// Update implements records.Store. For an image of a batch the batch's
// counter is updated in the same transaction.
func (s *Store) Update(ctx context.Context, rec *records.Record) (*records.Record, error) {
	data, err := proto.Marshal(rec.Image)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: encode: %w", err)
	}
	id := rec.Image.GetId()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			batch sql.NullString
			state int32
		)
		err := tx.QueryRowContext(ctx, `SELECT batch_id, state FROM images WHERE id = ? AND version = ?`, id, rec.Version).Scan(&batch, &state)
		if errors.Is(err, sql.ErrNoRows) {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM images WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return records.ErrNotFound
			}
			return records.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqliterecords: update %s: %w", id, err)
		}
		c, bseq, err := countWrite(ctx, tx, batch.String, &pb.Image{State: pb.ImageState(state)}, rec.Image)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE images SET version = version + 1, state = ?, record = ?, bseq = ? WHERE id = ? AND version = ?`,
			int32(rec.Image.GetState()), data, bseq, id, rec.Version); err != nil {
			return fmt.Errorf("sqliterecords: update %s: %w", id, err)
		}
		return putCounter(ctx, tx, batch.String, c)
	})
	if err != nil {
		return nil, err
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

// GetBatch implements records.Store.
func (s *Store) GetBatch(ctx context.Context, tenant, batchID string) (*records.BatchCounter, error) {
	return records.ReadCounter(tenant, batchID, func(scoped string) (*records.BatchCounter, error) {
		return getCounter(ctx, s.db, scoped)
	})
}

// BatchChanges implements records.Store with the images_by_batch_seq index:
// the images whose last write is in the range.
func (s *Store) BatchChanges(ctx context.Context, tenant, batchID string, after, upTo int64) ([]*records.Record, error) {
	upTo = min(upTo, after+records.MaxBatchChanges)
	rows, err := s.db.QueryContext(ctx,
		`SELECT version, record FROM images WHERE batch_id = ? AND bseq > ? AND bseq <= ? ORDER BY bseq`,
		records.Scoped(tenant, batchID), after, upTo)
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: batch changes: %w", err)
	}
	defer rows.Close()
	var out []*records.Record
	for rows.Next() {
		var (
			version int64
			data    []byte
		)
		if err := rows.Scan(&version, &data); err != nil {
			return nil, fmt.Errorf("sqliterecords: batch changes: %w", err)
		}
		rec, err := decode(version, data)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliterecords: batch changes: %w", err)
	}
	return out, nil
}

// Close implements records.Store.
func (s *Store) Close() error { return s.db.Close() }
