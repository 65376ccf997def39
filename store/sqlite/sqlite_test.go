package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/sqlstore"
	"github.com/lantls/lantls/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "issuer")
	path := filepath.Join(dir, "lantls.db")
	s := open(t, path)
	// Write something so that the WAL and shared-memory files exist.
	if err := s.ConsumeNonce(t.Context(), "n", time.Now()); err != nil {
		t.Fatalf("ConsumeNonce: %v", err)
	}
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{path, 0o600},
		{path + "-wal", 0o600},
		{path + "-shm", 0o600},
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if fi.Mode() != tt.mode {
			t.Errorf("%s has mode %v, want %v", tt.path, fi.Mode(), tt.mode)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "lantls.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	o, err := s.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatalf("EnsureOwner: %v", err)
	}
	if _, err := s.Secret(ctx, "key", []byte("v1")); err != nil {
		t.Fatalf("Secret: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		s := open(t, path)
		got, err := s.GetOwnerByName(ctx, "alice")
		if err != nil {
			t.Fatalf("GetOwnerByName after reopen: %v", err)
		}
		if *got != *o {
			t.Errorf("owner after reopen = %+v, want %+v", got, o)
		}
		v, err := s.Secret(ctx, "key", []byte("v2"))
		if err != nil || string(v) != "v1" {
			t.Errorf("Secret after reopen = %q, %v; want v1", v, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

// The store gives package ratelimit what it needs.
var _ ratelimit.Tx = (*Store)(nil)

func TestMigrationsUpAndDown(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "lantls.db")
	abs, err := createFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(abs, writerParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := migrator(db)
	if err != nil {
		t.Fatal(err)
	}
	// The first version, with some data, as an older issuer left it.
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO owners (id, name, created_at) VALUES ('o1', 'alice', 1)`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	if _, err := s.GetOwner(ctx, "o1"); err != nil {
		t.Errorf("GetOwner after migrating: %v", err)
	}
	if err := s.SetLimitTAT(ctx, "k", time.Now()); err != nil {
		t.Errorf("SetLimitTAT after migrating: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Every Down undoes its Up.
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	var tables int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite%'`).Scan(&tables)
	if err != nil || tables != 0 {
		t.Errorf("after migrating down, %d tables are left (%v)", tables, err)
	}
}

func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx := t.Context()
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	}
	for _, tt := range tests {
		for name, db := range map[string]*sql.DB{"writer": s.w, "reader": s.r} {
			got, err := pragma(ctx, db, tt.pragma)
			if err != nil {
				t.Fatalf("%s: pragma %s: %v", name, tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("%s: pragma %s = %s, want %s", name, tt.pragma, got, tt.want)
			}
		}
	}
	for p, want := range map[string]string{"wal_autocheckpoint": "4000"} {
		if got, err := pragma(ctx, s.w, p); err != nil || got != want {
			t.Errorf("writer %s = %s, %v; want %s", p, got, err, want)
		}
	}
	if got, err := pragma(ctx, s.r, "query_only"); err != nil || got != "1" {
		t.Errorf("reader query_only = %s, %v; want 1", got, err)
	}
	if _, err := s.r.ExecContext(ctx, "DELETE FROM nonces"); err == nil {
		t.Errorf("a reader connection could write")
	}
}

func TestReadsDoNotWaitForUpdate(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx := t.Context()
	if _, err := s.EnsureOwner(ctx, "alice"); err != nil {
		t.Fatalf("EnsureOwner: %v", err)
	}
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.EnsureOwner(ctx, "bob"); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	// The writer is held open; reads on the Store still answer, and see
	// only committed state.
	if _, err := s.GetOwnerByName(ctx, "alice"); err != nil {
		t.Errorf("GetOwnerByName during Update: %v", err)
	}
	if _, err := s.GetOwnerByName(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOwnerByName of an uncommitted owner = %v, want ErrNotFound", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
	if _, err := s.GetOwnerByName(ctx, "bob"); err != nil {
		t.Errorf("GetOwnerByName after commit: %v", err)
	}
}

func TestUpdatePanicReleasesWriter(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx := t.Context()
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Update did not pass the panic on")
			}
		}()
		s.Update(ctx, func(tx store.Tx) error {
			if err := tx.ConsumeNonce(ctx, "n", time.Now()); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.ConsumeNonce(ctx, "n", time.Now()); err != nil {
		t.Errorf("ConsumeNonce after a panicking Update: %v", err)
	}
}

func TestOpenFailsOnUnwritablePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), filepath.Join(file, "lantls.db")); err == nil {
		s.Close()
		t.Errorf("Open below a regular file succeeded")
	}
}

// pragma returns the value of a pragma on one connection of db.
func pragma(ctx context.Context, db *sql.DB, name string) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// open opens the store at path and closes it when t ends.
func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOpenOrderQueriesUseIndex guards the partial index of open orders:
// a query that stops repeating its WHERE term (openOrder) would still
// work, but by scanning every order ever made.
func TestOpenOrderQueriesUseIndex(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	for _, q := range sqlstore.OpenOrderStatements {
		args := make([]any, strings.Count(q.SQL, "?"))
		rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.SQL, args...)
		if err != nil {
			t.Fatalf("query %q: %v", q.SQL, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, "orders_open_by_expires") }) {
			t.Errorf("query %q does not use orders_open_by_expires: %q", q.SQL, plan)
		}
	}
}
