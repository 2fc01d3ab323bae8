// Package sqlitedb opens SQLite databases the way every embedded imagepipe
// store wants them: pure-Go driver (modernc.org/sqlite, no cgo), WAL so
// several processes on one machine can share the file, a busy timeout so
// they wait for each other instead of failing, and immediate transactions so
// read-modify-write never deadlocks on lock upgrade.
package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// Open opens (creating if needed) the database file at path.
func Open(path string) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// A "file:" URI keeps '?', '#', '%' and spaces in the path intact; the
	// driver consumes the _pragma and _txlock parameters.
	dsn := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// OpenSchema opens the database at path (see Open) and brings a store
// driver's tables up to date with migrate. When migrate fails the database
// is closed and the error, prefixed with driver, says so.
func OpenSchema(path, driver string, migrate func(*sql.DB) error) (*sql.DB, error) {
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: create schema: %w", driver, err)
	}
	return db, nil
}

// Exec is a migrate function for OpenSchema that executes the statements
// of schema.
func Exec(schema string) func(*sql.DB) error {
	return func(db *sql.DB) error {
		_, err := db.Exec(schema)
		return err
	}
}

// Opener is a store registry's opener of sqlite URLs: it opens the file the
// URL names (see PathFromURL) with newStore, a driver's constructor.
func Opener[T any](newStore func(path string) (T, error)) func(context.Context, *url.URL) (T, error) {
	return func(_ context.Context, u *url.URL) (T, error) {
		path, err := PathFromURL(u)
		if err != nil {
			var zero T
			return zero, err
		}
		return newStore(path)
	}
}

// PathFromURL extracts the file path of a sqlite URL: sqlite:///abs/file.db
// or sqlite:relative/file.db. The query string is left to the caller.
func PathFromURL(u *url.URL) (string, error) {
	if u.Scheme != "sqlite" {
		return "", fmt.Errorf("sqlite: URL scheme %q, want sqlite", u.Scheme)
	}
	var p string
	switch {
	case u.Opaque != "":
		p = u.Opaque
	case u.Host != "" && u.Host != "localhost":
		// sqlite://data/x.db: treat host as the first path segment.
		p = u.Host + u.Path
	default:
		p = u.Path
	}
	if p == "" || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("sqlite: URL %q names no database file", u.Redacted())
	}
	return filepath.Clean(p), nil
}
