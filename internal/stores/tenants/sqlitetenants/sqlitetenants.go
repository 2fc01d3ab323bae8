// Package sqlitetenants is the embedded tenants store: tables api_keys and
// tenants in the status store's SQLite file, shared safely by several
// processes on a machine (see internal/platform/sqlitedb).
//
// URL: the status store's, sqlite:///path/to/status.db. The tables sit
// beside sqliterecords' and sqlitedeliveries' in the same file; any of them
// may be opened first.
//
// Times are kept as unix microseconds (NULL when zero) and come back in UTC;
// scopes and webhook secrets as JSON arrays; the key's hash as a BLOB.
package sqlitetenants

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/sqlitedb"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
)

func init() {
	tenants.Register("sqlite", sqlitedb.Opener(func(path string) (tenants.Store, error) { return New(path) }))
}

var _ tenants.Store = (*Store)(nil)

// Page sizes: the default, for pageSize 0, and the most one page holds.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// Store is a tenants.Store on SQLite.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Times are unix microseconds, NULL for the zero time; scopes and secrets
// JSON arrays of strings. api_keys_by_tenant serves both listings: one
// tenant's by id, and every tenant's by tenant and id.
const schema = `
CREATE TABLE IF NOT EXISTS api_keys (
	id       TEXT PRIMARY KEY,
	tenant   TEXT NOT NULL,
	name     TEXT NOT NULL,
	scopes   TEXT NOT NULL,
	hash     BLOB,
	created  INTEGER,
	last_use INTEGER,
	revoked  INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys(tenant, id);
CREATE TABLE IF NOT EXISTS tenants (
	name    TEXT PRIMARY KEY,
	version INTEGER NOT NULL,
	secrets TEXT NOT NULL,
	updated INTEGER NOT NULL
);
`

// New opens (creating if needed) the status database at path and its
// api_keys and tenants tables.
func New(path string) (*Store, error) {
	db, err := sqlitedb.OpenSchema(path, "sqlitetenants", sqlitedb.Exec(schema))
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close implements tenants.Store.
func (s *Store) Close() error { return s.db.Close() }

// micros is a time as stored: unix microseconds, NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros is the time of a stored column.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// strs encodes a list of strings as a JSON array.
func strs(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// fromStrs decodes a JSON array of strings; nil when empty.
func fromStrs(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("sqlitetenants: decode %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// checkKey rejects a key that names no id or tenant.
func checkKey(k tenants.Key) error {
	if k.ID == "" || k.Tenant == "" {
		return fmt.Errorf("sqlitetenants: key %q of tenant %q: both are required", k.ID, k.Tenant)
	}
	return nil
}

const keyColumns = `id, tenant, name, scopes, hash, created, last_use, revoked`

func keyArgs(k tenants.Key) []any {
	return []any{k.ID, k.Tenant, k.Name, strs(k.Scopes), k.Hash,
		micros(k.CreateTime), micros(k.LastUseTime), micros(k.RevokeTime)}
}

// CreateKey implements tenants.Store.
func (s *Store) CreateKey(ctx context.Context, k tenants.Key) error {
	if err := checkKey(k); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, keyArgs(k)...)
	if err != nil {
		return fmt.Errorf("sqlitetenants: create key %s: %w", k.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlitetenants: create key %s: %w", k.ID, tenants.ErrExists)
	}
	return nil
}

// PutKey implements tenants.Store: every column is replaced.
func (s *Store) PutKey(ctx context.Context, k tenants.Key) error {
	if err := checkKey(k); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, name = excluded.name, scopes = excluded.scopes,
		 hash = excluded.hash, created = excluded.created, last_use = excluded.last_use, revoked = excluded.revoked`,
		keyArgs(k)...)
	if err != nil {
		return fmt.Errorf("sqlitetenants: put key %s: %w", k.ID, err)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanKey reads the keyColumns of a row.
func scanKey(row scanner) (tenants.Key, error) {
	var (
		k                      tenants.Key
		scopes                 string
		created, used, revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Tenant, &k.Name, &scopes, &k.Hash, &created, &used, &revoked); err != nil {
		return tenants.Key{}, err
	}
	var err error
	if k.Scopes, err = fromStrs(scopes); err != nil {
		return tenants.Key{}, err
	}
	k.CreateTime, k.LastUseTime, k.RevokeTime = fromMicros(created), fromMicros(used), fromMicros(revoked)
	return k, nil
}

// GetKey implements tenants.Store.
func (s *Store) GetKey(ctx context.Context, id string) (tenants.Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return tenants.Key{}, fmt.Errorf("sqlitetenants: get key %s: %w", id, tenants.ErrNotFound)
	}
	if err != nil {
		return tenants.Key{}, fmt.Errorf("sqlitetenants: get key %s: %w", id, err)
	}
	return k, nil
}

// RevokeKey implements tenants.Store with one UPDATE that keeps a revoke
// time already set.
func (s *Store) RevokeKey(ctx context.Context, id string, t time.Time) (tenants.Key, error) {
	if t.IsZero() {
		return tenants.Key{}, fmt.Errorf("sqlitetenants: revoke key %s at the zero time", id)
	}
	k, err := scanKey(s.db.QueryRowContext(ctx,
		`UPDATE api_keys SET revoked = coalesce(revoked, ?) WHERE id = ? RETURNING `+keyColumns, t.UnixMicro(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return tenants.Key{}, fmt.Errorf("sqlitetenants: revoke key %s: %w", id, tenants.ErrNotFound)
	}
	if err != nil {
		return tenants.Key{}, fmt.Errorf("sqlitetenants: revoke key %s: %w", id, err)
	}
	return k, nil
}

// TouchKey implements tenants.Store with one UPDATE that keeps a later last
// use.
func (s *Store) TouchKey(ctx context.Context, id string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("sqlitetenants: touch key %s at the zero time", id)
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE api_keys SET last_use = max(coalesce(last_use, ?1), ?1) WHERE id = ?2`, t.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlitetenants: touch key %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlitetenants: touch key %s: %w", id, tenants.ErrNotFound)
	}
	return nil
}

// ListKeys implements tenants.Store: by tenant, then id, from the index on
// both. The page token is the last key returned and the tenant listed, as
// base64url JSON.
func (s *Store) ListKeys(ctx context.Context, tenant string, pageSize int, token string) (tenants.KeyPage, error) {
	if pageSize < 0 || pageSize > maxPageSize {
		return tenants.KeyPage{}, fmt.Errorf("sqlitetenants: page size %d not in 0..%d", pageSize, maxPageSize)
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	q, args := `SELECT `+keyColumns+` FROM api_keys WHERE true`, []any{}
	if tenant != "" {
		q, args = q+` AND tenant = ?`, append(args, tenant)
	}
	if token != "" {
		last, err := tenants.DecodeKeyToken(token, tenant)
		if err != nil {
			return tenants.KeyPage{}, fmt.Errorf("sqlitetenants: %w", err)
		}
		q, args = q+` AND (tenant, id) > (?, ?)`, append(args, last.Tenant, last.ID)
	}
	q += ` ORDER BY tenant, id LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, pageSize+1)...)
	if err != nil {
		return tenants.KeyPage{}, fmt.Errorf("sqlitetenants: list keys: %w", err)
	}
	defer rows.Close()
	var page tenants.KeyPage
	for rows.Next() {
		if len(page.Keys) == pageSize {
			page.NextPageToken = tenants.EncodeKeyToken(tenant, page.Keys[pageSize-1])
			break
		}
		k, err := scanKey(rows)
		if err != nil {
			return tenants.KeyPage{}, fmt.Errorf("sqlitetenants: list keys: %w", err)
		}
		page.Keys = append(page.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return tenants.KeyPage{}, fmt.Errorf("sqlitetenants: list keys: %w", err)
	}
	return page, nil
}

// GetTenant implements tenants.Store.
func (s *Store) GetTenant(ctx context.Context, name string) (tenants.Tenant, error) {
	var (
		t       = tenants.Tenant{Name: name}
		secrets string
		updated sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT version, secrets, updated FROM tenants WHERE name = ?`, name).
		Scan(&t.Version, &secrets, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return tenants.Tenant{}, fmt.Errorf("sqlitetenants: get tenant %s: %w", name, tenants.ErrNotFound)
	}
	if err != nil {
		return tenants.Tenant{}, fmt.Errorf("sqlitetenants: get tenant %s: %w", name, err)
	}
	if t.WebhookSecrets, err = fromStrs(secrets); err != nil {
		return tenants.Tenant{}, err
	}
	t.UpdateTime = fromMicros(updated)
	return t, nil
}

// PutTenant implements tenants.Store: an INSERT for version 0, else an
// UPDATE conditioned on the version. A zero UpdateTime is stored as the
// time of the write.
func (s *Store) PutTenant(ctx context.Context, t tenants.Tenant) (tenants.Tenant, error) {
	if t.Name == "" {
		return tenants.Tenant{}, errors.New("sqlitetenants: put of a tenant without a name")
	}
	if t.UpdateTime.IsZero() {
		t.UpdateTime = s.now()
	}
	t.UpdateTime = time.UnixMicro(t.UpdateTime.UnixMicro()).UTC()
	var (
		res sql.Result
		err error
	)
	if t.Version == 0 {
		res, err = s.db.ExecContext(ctx,
			`INSERT INTO tenants (name, version, secrets, updated) VALUES (?, 1, ?, ?) ON CONFLICT DO NOTHING`,
			t.Name, strs(t.WebhookSecrets), t.UpdateTime.UnixMicro())
	} else {
		res, err = s.db.ExecContext(ctx,
			`UPDATE tenants SET version = version + 1, secrets = ?, updated = ? WHERE name = ? AND version = ?`,
			strs(t.WebhookSecrets), t.UpdateTime.UnixMicro(), t.Name, t.Version)
	}
	if err != nil {
		return tenants.Tenant{}, fmt.Errorf("sqlitetenants: put tenant %s: %w", t.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tenants.Tenant{}, fmt.Errorf("sqlitetenants: put tenant %s at version %d: %w", t.Name, t.Version, tenants.ErrConflict)
	}
	t.Version++
	t.WebhookSecrets = append([]string(nil), t.WebhookSecrets...)
	if len(t.WebhookSecrets) == 0 {
		t.WebhookSecrets = nil
	}
	return t, nil
}
