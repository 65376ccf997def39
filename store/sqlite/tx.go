package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/sqlstore"
)

// txn is where the shared statements (store/internal/sqlstore) run: with
// tx nil directly on the Store, reads on the reader pool and each write as
// one write transaction handed to the writer; with tx set, inside that
// transaction. Its store.Tx methods are sqlstore.Tx's, but for the reads
// of cached rows outside transactions (cache.go).
type txn struct {
	sqlstore.Tx
	s  *Store
	tx *sql.Tx
	ss statements      // prepared on tx's pool: the writer's, or, for a snapshot, the readers'
	fx []func(*caches) // what this write does to cached rows once committed (cache.go)
	// batch, in a write transaction whose caches are exact, records the
	// cached rows its writes touch; reads of others may use the caches
	// (cache.go). nil elsewhere.
	batch *inBatch
	// bound, in a write transaction, holds its statements bound so far
	// (writer.go). nil elsewhere.
	bound *bound
}

var (
	_ store.Tx    = (*txn)(nil)
	_ sqlstore.DB = (*txn)(nil)
)

// newTxn returns the txn of s in the transaction tx (nil for none) whose
// statements are ss.
func newTxn(s *Store, tx *sql.Tx, ss statements) *txn {
	t := &txn{s: s, tx: tx, ss: ss}
	t.Tx.DB = t
	return t
}

// Exec runs the write q inside the transaction, or, outside one, as one
// write handed to the writer.
func (t *txn) Exec(ctx context.Context, c sqlstore.Change, q *sqlstore.Stmt, args ...any) (int, error) {
	if t.tx == nil {
		return t.execOnWriter(ctx, c, q, args)
	}
	return t.exec(ctx, c, q, args)
}

// execOnWriter runs the write q as one write handed to the writer. (Apart
// from exec, so that only writes outside a transaction pay for the
// closure.)
func (t *txn) execOnWriter(ctx context.Context, c sqlstore.Change, q *sqlstore.Stmt, args []any) (int, error) {
	var n int
	err := t.s.updateOnWriter(ctx, func(t *txn) (err error) {
		n, err = t.exec(ctx, c, q, args)
		return err
	})
	return n, err
}

// exec runs the write q inside the transaction.
func (t *txn) exec(ctx context.Context, c sqlstore.Change, q *sqlstore.Stmt, args []any) (int, error) {
	ctx, err := brief(ctx)
	if err != nil {
		return 0, err
	}
	// Before the statement runs: a failed one may have changed rows too,
	// until its savepoint is rolled back.
	t.batch.touch(c)
	res, err := t.stmt(ctx, q).ExecContext(ctx, args...)
	if err != nil {
		return 0, classify(err)
	}
	n, err := res.RowsAffected()
	if err == nil && c.Kind != sqlstore.NoKind {
		if fx := effect(c); fx != nil {
			t.fx = append(t.fx, fx)
		}
	}
	return int(n), err
}

// QueryRow runs the read q of one row.
func (t *txn) QueryRow(ctx context.Context, q *sqlstore.Stmt, args ...any) sqlstore.Scanner {
	ctx, err := brief(ctx)
	if err != nil {
		return errRow{err}
	}
	return row{t.stmt(ctx, q).QueryRowContext(ctx, args...)}
}

// Query runs the read q and calls fn for each row. Lists can be long, so
// unlike single rows they stay cancellable while they run.
func (t *txn) Query(ctx context.Context, q *sqlstore.Stmt, args []any, fn func(sqlstore.Scanner) error) error {
	rows, err := t.stmt(ctx, q).QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Atomic runs fn so that all its statements commit together: in the
// current transaction, or as one write handed to the writer.
func (t *txn) Atomic(ctx context.Context, fn func(db sqlstore.DB) error) error {
	if t.tx != nil {
		return fn(t)
	}
	return t.s.updateOnWriter(ctx, func(t *txn) error { return fn(t) })
}

// Snapshot runs fn's reads in one read transaction on the reader pool (or
// in the current transaction), so they see one state of the file.
func (t *txn) Snapshot(ctx context.Context, fn func(db sqlstore.DB) error) error {
	if t.tx != nil {
		return fn(t)
	}
	tx, err := t.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(newTxn(t.s, tx, t.s.rs))
}

// LocksRows is false: SQLite's one writer already runs write transactions
// one at a time.
func (t *txn) LocksRows() bool { return false }

// stmt returns the prepared statement of q: bound to the transaction, or,
// for reads outside one, on the reader pool.
func (t *txn) stmt(ctx context.Context, q *sqlstore.Stmt) *sql.Stmt {
	t.s.stmts.Add(1)
	if t.bound != nil {
		return t.bound.stmt(ctx, q.ID)
	}
	if t.tx != nil {
		return t.tx.StmtContext(ctx, t.ss[q.ID])
	}
	return t.s.rs[q.ID]
}

// row is a *sql.Row whose missing row is store.ErrNotFound.
type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// errRow is a row that could not be read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// brief returns ctx for a statement that touches a row or two and takes
// microseconds: an error if ctx has already ended, else ctx without its
// cancellation. Watching a cancellable context costs the driver and
// database/sql a goroutine per statement, more than the statement itself.
func brief(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// classify turns SQLite's constraint errors into the store's: a broken
// uniqueness is ErrConflict, a reference to a missing row ErrNotFound.
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// statements holds every shared statement prepared on one pool, by ID.
type statements []*sql.Stmt

func (ss *statements) prepare(ctx context.Context, db *sql.DB) error {
	*ss = make(statements, len(sqlstore.All))
	for _, q := range sqlstore.All {
		st, err := db.PrepareContext(ctx, q.SQL)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q.SQL, err)
		}
		(*ss)[q.ID] = st
	}
	return nil
}

func (ss statements) close() error {
	var errs []error
	for _, st := range ss {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
