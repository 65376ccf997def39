// Package sqlite is the embedded, default implementation of store.Store: one
// SQLite file in WAL mode, written through a single connection and read
// through a small pool, with its schema kept by goose migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/schema"
)

// Connection settings. Every connection waits for locks instead of failing
// at once; the writer begins its transactions with BEGIN IMMEDIATE so that a
// transaction never has to upgrade a read lock, which is where SQLITE_BUSY
// deadlocks come from; readers cannot write by accident.
//
// The WAL is checkpointed every 4000 pages (16 MiB) rather than SQLite's
// 1000: the pages every write touches (the right edges of the time-ordered
// tables) are then copied back once per checkpoint rather than four times,
// and the checkpoint's fsync comes a quarter as often. (A larger writer
// page cache was tried and costs more than it saves: every commit walks
// the cache's whole hash table.)
//
// The writer keeps its temporary files in memory (temp_store=MEMORY): the
// group commit runs each write in a savepoint, whose statement journal
// SQLite otherwise writes to a temporary file, a pwrite per page. That
// journal only undoes a savepoint of a live transaction; recovery after a
// crash reads the WAL alone, so durability is unchanged.
const (
	commonParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)"
	writerParams = commonParams + "&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(4000)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	readerParams = commonParams + "&_pragma=query_only(ON)"
)

// Store is a store.Store kept in one SQLite file. Reads called on it run on
// a pool of reader connections and never wait for writes; writes, called on
// it or through Update, run one at a time on the single writer connection
// (see writer.go).
//
// Do not call a Store's write methods from inside Update's fn: the writer is
// busy with fn, so they would wait forever; use the Tx that fn is given.
type Store struct {
	txn              // the store.Tx methods, bound to no transaction
	w   *sql.DB      // the one writer connection
	r   *sql.DB      // the reader pool
	ws  statements   // prepared on w
	rs  statements   // prepared on r
	sp  [4]*sql.Stmt // the writer's own statements, see writer.go

	caches *caches // of rows read outside transactions, see cache.go

	stmts   atomic.Int64 // statements run, see Statements
	commits atomic.Int64 // write transactions committed

	writes     chan *write   // to the writer goroutine
	closing    chan struct{} // closed by Close
	writerDone chan struct{} // closed when the writer goroutine ends
	closeOnce  sync.Once
	closeErr   error
}

var _ store.Store = (*Store)(nil)

// Statements returns how many statements the Store has run since it was
// opened: the shared ones (store/internal/sqlstore), on the readers and the
// writer, and the writer's own savepoints and data_version reads; BEGIN
// and COMMIT aside, which Commits counts.
func (s *Store) Statements() int64 { return s.stmts.Load() }

// Commits returns how many write transactions the Store has committed
// since it was opened.
func (s *Store) Commits() int64 { return s.commits.Load() }

// Open opens the SQLite database at path, creating the file (mode 0600) and
// its parent directory (mode 0700) if missing, and migrates its schema to the
// newest version.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := createFile(path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{
		caches:     newCaches(),
		writes:     make(chan *write),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.txn = txn{s: s}
	s.txn.Tx.DB = &s.txn
	if err := s.open(ctx, abs); err != nil {
		close(s.writerDone) // never started
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.writeLoop()
	return s, nil
}

func (s *Store) open(ctx context.Context, path string) error {
	var err error
	if s.w, err = openDB(path, writerParams, 1); err != nil {
		return err
	}
	if err := migrate(ctx, s.w); err != nil {
		return err
	}
	// Enough readers to keep every core busy, few enough that each keeps
	// its page cache warm.
	readers := min(max(runtime.GOMAXPROCS(0), 4), 8)
	if s.r, err = openDB(path, readerParams, readers); err != nil {
		return err
	}
	if err := s.ws.prepare(ctx, s.w); err != nil {
		return err
	}
	for i, text := range savepoints {
		if s.sp[i], err = s.w.PrepareContext(ctx, text); err != nil {
			return err
		}
	}
	var v int64
	if err := s.sp[readDataVersion].QueryRowContext(ctx).Scan(&v); err != nil {
		return err
	}
	s.caches.dataVersion.Store(v)
	return s.rs.prepare(ctx, s.r)
}

// Update runs fn in one transaction on the writer connection, committing
// only if fn returns nil; fn's error is returned as it is, and a panic in fn
// is passed on after the rollback.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.update(ctx, func(t *txn) error { return fn(t) })
}

// Close waits for the write in progress, then closes the prepared
// statements and both connection pools. Writes after Close fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		errs := []error{s.ws.close(), s.rs.close(), statements(s.sp[:]).close()}
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
	})
	return s.closeErr
}

// createFile makes sure path exists with mode 0600 before SQLite opens it
// (SQLite would create it with the umask's mode, usually 0644), and returns
// its absolute form.
func createFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	return abs, f.Close()
}

// openDB opens a pool of at most conns connections to the file at path. The
// WAL and shared-memory files SQLite creates take the file's mode.
func openDB(path, params string, conns int) (*sql.DB, error) {
	// A file: URI, so that '?', '#' and '%' in path cannot be read as
	// parameters.
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	db, err := sql.Open("sqlite", "file:"+r.Replace(filepath.ToSlash(path))+"?"+params)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns) // closing idle connections would throw away prepared statements
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// migrate brings the schema to the newest embedded migration.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := migrator(db)
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrator returns a goose provider of the migrations (store/internal/schema)
// in SQLite's dialect for db, without goose's global registry. Migrations
// may arrive out of order: work done in parallel takes numbers from
// ranges, so a data dir at 00170 may meet a new 00140.
func migrator(db *sql.DB) (*goose.Provider, error) {
	fsys, err := schema.Migrations(schema.SQLite)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
}
