package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses
)

// FerretDB v1's SQLite backend looks a document up by `_ferretdb_sjson->'$._id'`, but its
// own unique index is on `_ferretdb_sjson->"_id"`. SQLite uses an index only when the
// expressions match, so every find, update or delete by _id scanned the whole table
// (20 ms for 10k documents, seconds for a million). indexIDsEvery adds the index the
// query can use to every collection table, in every database file, as tables appear.
// FerretDB is unaware of it: SQLite maintains it, and it goes when the table is dropped.

const idIndexSuffix = "_sangathan_id_path"

func indexIDsEvery(ctx context.Context, every time.Duration, sqliteURL string, logger *slog.Logger) {
	dir := strings.TrimPrefix(strings.SplitN(sqliteURL, "?", 2)[0], "file:")
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			if err := indexIDs(ctx, file); err != nil {
				logger.Debug("could not add _id path indexes", "file", file, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func indexIDs(ctx context.Context, file string) error {
	// mode=rw: never create a file FerretDB has just dropped; wait for its locks as it does.
	uri := "file:" + (&url.URL{Path: file}).EscapedPath() + "?mode=rw&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return err
	}
	defer func() {
		db.Close()
		// Had FerretDB dropped the database while we held it open, closing left its -wal and
		// -shm files behind without the database file: remove those orphans.
		if _, err := os.Stat(file); os.IsNotExist(err) {
			os.Remove(file + "-wal")
			os.Remove(file + "-shm")
		}
	}()

	rows, err := db.QueryContext(ctx, `
		SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = c.table_name || ?)`,
		idIndexSuffix)
	if err != nil {
		return err // a database FerretDB is creating or dropping right now; next tick
	}
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, table)
	}
	rows.Close()

	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+idIndexSuffix, table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
