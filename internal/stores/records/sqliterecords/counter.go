package sqliterecords

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/protobuf/proto"
)

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getCounter reads batch's counter (batch as scoped); nil if it has none.
func getCounter(ctx context.Context, q queryRower, batch string) (*records.BatchCounter, error) {
	var data string
	err := q.QueryRowContext(ctx, `SELECT counter FROM batches WHERE batch_id = ?`, batch).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqliterecords: get batch: %w", err)
	}
	c := records.NewBatchCounter("", "")
	if err := json.Unmarshal([]byte(data), c); err != nil {
		return nil, fmt.Errorf("sqliterecords: decode batch counter: %w", err)
	}
	return c, nil
}

// putCounter writes batch's counter (batch as scoped; nothing for "").
func putCounter(ctx context.Context, tx *sql.Tx, batch string, c *records.BatchCounter) error {
	if batch == "" {
		return nil
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqliterecords: encode batch counter: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO batches (batch_id, counter) VALUES (?, ?) ON CONFLICT (batch_id) DO UPDATE SET counter = excluded.counter`,
		batch, string(data)); err != nil {
		return fmt.Errorf("sqliterecords: write batch counter: %w", err)
	}
	return nil
}

// countWrite applies a write of img (prev: the image before, nil for a
// Create) to the counter of batch (as scoped) and returns the counter to
// store and the image's bseq; for an image without batch, nil and nil.
func countWrite(ctx context.Context, tx *sql.Tx, batch string, prev, img *pb.Image) (*records.BatchCounter, any, error) {
	if batch == "" {
		return nil, nil, nil
	}
	c, err := getCounter(ctx, tx, batch)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		c = records.NewBatchCounter("", "")
	}
	c.Apply(prev, img, time.Now())
	return c, c.Seq, nil
}

// migrate creates the schema, or brings a file made before batch counters
// or tenant listings up to date: it adds images.bseq and counts every
// existing batch once, adds images.tenant and fills it from the records,
// in one transaction, so that racing processes migrate it once.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	has, err := hasColumn(tx, "images", "bseq")
	if err != nil {
		return err
	}
	if !has {
		if _, err := tx.Exec(`ALTER TABLE images ADD COLUMN bseq INTEGER`); err != nil {
			return err
		}
		if err := countExisting(tx); err != nil {
			return fmt.Errorf("count existing batches: %w", err)
		}
	}
	if err := addTenants(tx); err != nil {
		return err
	}
	if _, err := tx.Exec(laterIndexes); err != nil {
		return err
	}
	return tx.Commit()
}

func hasColumn(tx *sql.Tx, table, column string) (bool, error) {
	var n int
	err := tx.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	return n > 0, err
}

// countExisting makes the counter of every batch from its images, in id
// order, and numbers their writes.
func countExisting(tx *sql.Tx) error {
	rows, err := tx.Query(`SELECT id, batch_id, record FROM images WHERE batch_id IS NOT NULL ORDER BY batch_id, id`)
	if err != nil {
		return err
	}
	type numbered struct {
		id   string
		bseq int64
	}
	counters := map[string]*records.BatchCounter{}
	var order []string
	var seqs []numbered
	now := time.Now()
	for rows.Next() {
		var (
			id, batch string
			data      []byte
		)
		if err := rows.Scan(&id, &batch, &data); err != nil {
			rows.Close()
			return err
		}
		img := &pb.Image{}
		if err := proto.Unmarshal(data, img); err != nil {
			rows.Close()
			return fmt.Errorf("decode %s: %w", id, err)
		}
		c := counters[batch]
		if c == nil {
			c = records.NewBatchCounter("", "")
			counters[batch] = c
			order = append(order, batch)
		}
		c.Apply(nil, img, now)
		seqs = append(seqs, numbered{id, c.Seq})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range seqs {
		if _, err := tx.Exec(`UPDATE images SET bseq = ? WHERE id = ?`, n.bseq, n.id); err != nil {
			return err
		}
	}
	for _, b := range order {
		if err := putCounter(context.Background(), tx, b, counters[b]); err != nil {
			return err
		}
	}
	return nil
}

// addTenants adds images.tenant to a file made before tenant listings and
// sets it on every image from its record, so ListImages lists the images
// written before. It reads tenantChunk images at a time, so its memory
// does not grow with the file.
func addTenants(tx *sql.Tx) error {
	has, err := hasColumn(tx, "images", "tenant")
	if err != nil || has {
		return err
	}
	if _, err := tx.Exec(`ALTER TABLE images ADD COLUMN tenant TEXT`); err != nil {
		return err
	}
	for after := ""; ; {
		chunk, err := readTenants(tx, after)
		if err != nil || len(chunk) == 0 {
			return err
		}
		for _, it := range chunk {
			if _, err := tx.Exec(`UPDATE images SET tenant = ? WHERE id = ?`, it.tenant, it.id); err != nil {
				return fmt.Errorf("set tenant of %s: %w", it.id, err)
			}
		}
		after = chunk[len(chunk)-1].id
	}
}

const tenantChunk = 500

type idTenant struct{ id, tenant string }

// readTenants returns the tenants of the next tenantChunk images after id
// after, in id order.
func readTenants(tx *sql.Tx, after string) ([]idTenant, error) {
	rows, err := tx.Query(`SELECT id, record FROM images WHERE id > ? ORDER BY id LIMIT ?`, after, tenantChunk)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []idTenant
	for rows.Next() {
		var (
			id   string
			data []byte
		)
		if err := rows.Scan(&id, &data); err != nil {
			return nil, err
		}
		img := &pb.Image{}
		if err := proto.Unmarshal(data, img); err != nil {
			return nil, fmt.Errorf("decode %s: %w", id, err)
		}
		out = append(out, idTenant{id, records.Tenant(img)})
	}
	return out, rows.Err()
}
