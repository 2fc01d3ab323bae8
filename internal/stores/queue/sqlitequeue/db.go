package sqlitequeue

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
)

const schemaVersion = 1

// schema holds every queue of a file in one table. Times are Unix
// milliseconds; receipt is the token of the latest receive.
const schema = `
CREATE TABLE IF NOT EXISTS queue_messages (
	seq           INTEGER PRIMARY KEY,
	queue         TEXT    NOT NULL,
	id            TEXT    NOT NULL UNIQUE,
	body          BLOB    NOT NULL,
	attributes    TEXT,
	sent_at       INTEGER NOT NULL,
	visible_at    INTEGER NOT NULL,
	receive_count INTEGER NOT NULL DEFAULT 0,
	receipt       TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_due ON queue_messages (queue, visible_at);
`

// openDB opens the file at the absolute path and prepares the schema.
func openDB(path string) (*sql.DB, error) {
	// A "file:" URI keeps '?', '#' and '%' in the path intact; the driver
	// consumes the _pragma parameters.
	dsn := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitequeue: open %s: %w", filepath.Base(path), err)
	}
	// One connection per handle: SQLite serialises writers anyway, and
	// queueing in database/sql beats SQLite's sleeping busy handler.
	db.SetMaxOpenConns(1)
	if err := migrate(context.Background(), db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitequeue: prepare %s: %w", filepath.Base(path), err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	switch {
	case version > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this program's %d", version, schemaVersion)
	case version < schemaVersion:
		if _, err := conn.ExecContext(ctx, schema); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return err
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
