package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/platform/sqlitedb"
)

func TestOpenSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	db, err := sqlitedb.OpenSchema(path, "test", sqlitedb.Exec(`CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY)`))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO t (id) VALUES ('a')`); err != nil {
		t.Fatalf("insert into the created table: %v", err)
	}
	failed := errors.New("no such thing")
	_, err = sqlitedb.OpenSchema(path, "test", func(*sql.DB) error { return failed })
	if !errors.Is(err, failed) || !strings.HasPrefix(err.Error(), "test: create schema: ") {
		t.Errorf("OpenSchema with a failing migrate = %v, want it wrapped as test: create schema", err)
	}
}

func TestOpener(t *testing.T) {
	open := sqlitedb.Opener(func(path string) (string, error) { return path, nil })
	if got, err := open(context.Background(), &url.URL{Scheme: "sqlite", Path: "/data/status.db"}); err != nil || got != filepath.Clean("/data/status.db") {
		t.Errorf("open of sqlite:///data/status.db = %q, %v", got, err)
	}
	for _, u := range []*url.URL{{Scheme: "sqlite", Path: "/data/"}, {Scheme: "mysql", Path: "/x.db"}} {
		if got, err := open(context.Background(), u); err == nil {
			t.Errorf("open of %s = %q, want an error", u, got)
		}
	}
}
