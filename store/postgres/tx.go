package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/sqlstore"
)

// txn is where the shared statements (store/internal/sqlstore) run, in
// their numbered form: with tx nil on the pool, each method one statement,
// or one transaction of its own where it needs several; with tx set,
// inside that transaction. pgx prepares each statement once per
// connection on first use.
type txn struct {
	sqlstore.Tx
	s          *Store
	tx         conn
	readOnly   bool // tx is a snapshot for reading
	savepoints bool // wrap each write in a savepoint (inside Update's fn)
	// retry is set when a statement of the transaction failed in a way
	// that running the whole transaction again may cure (a serialization
	// failure, a deadlock): Update then runs fn again, whatever fn made of
	// the error.
	retry bool
	// failed is set when a statement of the transaction failed, which
	// ends it unless the statement ran in a savepoint; wentOn when a
	// statement was refused for that (fn went on after the failure).
	failed, wentOn bool
	// limitsAhead are the rate limits the caller said the transaction
	// reads (store.ExpectLimits), not yet sent: they go with its first
	// read of a row, and limits keeps what they read until LimitTAT takes
	// it.
	limitsAhead []string
	limits      map[string]time.Time
	// openAhead is the open-order count the caller said the transaction
	// makes (store.ExpectOpenOrders), not yet sent; open what it read.
	openAhead *openOrders
	open      *openOrders
}

// openOrders is one CountOpenOrders: its arguments and, once read, its
// answer.
type openOrders struct {
	account     string
	now         time.Time
	n           int
	firstExpiry time.Time
}

var (
	_ store.Tx    = (*txn)(nil)
	_ sqlstore.DB = (*txn)(nil)
)

// newTxn returns a txn of s in tx.
func newTxn(s *Store, tx conn) *txn {
	t := &txn{s: s, tx: tx}
	t.Tx.DB = t
	return t
}

// forUpdate is the numbered text of each statement with FOR UPDATE, for
// the reads of one row by key inside a transaction (Stmt.LockKey).
var forUpdate = func() []string {
	texts := make([]string, len(sqlstore.All))
	for _, q := range sqlstore.All {
		texts[q.ID] = q.Numbered + " FOR UPDATE"
	}
	return texts
}()

// querier is what a pool and a transaction both run statements on.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// q returns what statements run on: the transaction, or the pool.
func (t *txn) q() querier {
	if t.tx != nil {
		return t.tx
	}
	return t.s.pool
}

// Exec runs the write q and returns how many rows it changed. Inside
// Update's fn the write runs in a savepoint, sent with it in one round
// trip, so that a failed write leaves the transaction usable; a blind
// write (sqlstore.Stmt.Blind) waits inside a transaction for the next
// statement or the commit, and counts 0.
func (t *txn) Exec(ctx context.Context, _ sqlstore.Change, q *sqlstore.Stmt, args ...any) (int, error) {
	ctx, err := brief(ctx)
	if err != nil {
		return 0, err
	}
	if l, ok := t.tx.(*lazyTx); ok && q.Blind {
		// No round trip of its own, and no savepoint: its failure fails
		// the transaction.
		l.Defer(q.Numbered, args...)
		return 0, nil
	}
	if t.tx == nil {
		store.AheadOf(ctx).Forget()
	}
	if !t.savepoints {
		tag, err := t.q().Exec(ctx, q.Numbered, args...)
		if err != nil {
			return 0, t.classify(err)
		}
		return int(tag.RowsAffected()), nil
	}
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT one_write")
	b.Queue(q.Numbered, args...)
	b.Queue("RELEASE SAVEPOINT one_write")
	br := t.tx.SendBatch(ctx, b)
	var tag pgconn.CommandTag
	_, err = br.Exec()
	if err == nil {
		tag, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if _, rerr := t.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT one_write; RELEASE SAVEPOINT one_write"); rerr != nil {
			return 0, errors.Join(t.classify(err), rerr)
		}
		return 0, t.classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// QueryRow runs the read q of one row. Inside a read-write transaction a
// read by key locks the row until the transaction ends (FOR UPDATE):
// that is how Update's transactions, in READ COMMITTED, behave as if one
// writer ran them (see Store).
func (t *txn) QueryRow(ctx context.Context, q *sqlstore.Stmt, args ...any) sqlstore.Scanner {
	ctx, err := brief(ctx)
	if err != nil {
		return errRow{err}
	}
	text := q.Numbered
	if q.LockKey && t.LocksRows() {
		text = forUpdate[q.ID]
	}
	if (len(t.limitsAhead) > 0 || t.openAhead != nil) && t.LocksRows() {
		return t.queryRowAhead(ctx, text, args)
	}
	return row{t.q().QueryRow(ctx, text, args...), t}
}

// queryRowAhead sends the read text with the rate limits read ahead, in
// one batch after it, and returns its row; reading the row keeps the
// limits.
func (t *txn) queryRowAhead(ctx context.Context, text string, args []any) sqlstore.Scanner {
	b := &pgx.Batch{}
	b.Queue(text, args...)
	reads := make([]sqlstore.Read, 0, len(t.limitsAhead))
	for _, k := range t.limitsAhead {
		r := sqlstore.LimitAhead(k, func(tat time.Time) {
			if t.limits == nil {
				t.limits = make(map[string]time.Time)
			}
			t.limits[k] = tat
		})
		b.Queue(r.Stmt.Numbered, r.Args...)
		reads = append(reads, r)
	}
	t.limitsAhead = nil
	if o := t.openAhead; o != nil {
		r := sqlstore.OpenOrdersAhead(o.account, o.now, func(n int, first time.Time) {
			o.n, o.firstExpiry = n, first
			t.open = o
		})
		b.Queue(r.Stmt.Numbered, r.Args...)
		reads = append(reads, r)
		t.openAhead = nil
	}
	return aheadRow{br: t.tx.SendBatch(ctx, b), reads: reads, t: t}
}

// aheadRow is the row of a batch's first read, followed by reads whose
// rows it keeps once the first is scanned.
type aheadRow struct {
	br    pgx.BatchResults
	reads []sqlstore.Read
	t     *txn
}

func (r aheadRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	for _, rd := range r.reads {
		rows, qerr := r.br.Query()
		if qerr == nil {
			for rows.Next() {
				if qerr = rd.Row(rows); qerr != nil {
					break
				}
			}
			rows.Close()
			if qerr == nil {
				qerr = rows.Err()
			}
		}
		if qerr != nil {
			// Not kept: LimitTAT reads it again, or meets the
			// transaction's error.
			break
		}
	}
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return r.t.classify(err)
}

// CountOpenOrders counts an account's open orders: counted ahead with an
// earlier statement (store.ExpectOpenOrders), or now.
func (t *txn) CountOpenOrders(ctx context.Context, accountID string, now time.Time) (int, time.Time, error) {
	if t.tx == nil {
		return t.Tx.CountOpenOrders(ctx, accountID, now)
	}
	if o := t.open; o != nil && o.account == accountID && o.now.Equal(now) {
		t.open = nil
		return o.n, o.firstExpiry, nil
	}
	if o := t.openAhead; o != nil && o.account == accountID && o.now.Equal(now) {
		t.openAhead = nil
	}
	return t.Tx.CountOpenOrders(ctx, accountID, now)
}

// LimitTAT returns the time of the rate limit key: read ahead with an
// earlier statement (store.ExpectLimits), or read now, with the other
// limits still to read.
func (t *txn) LimitTAT(ctx context.Context, key string) (time.Time, error) {
	if t.tx == nil {
		// The Store's own txn, shared by every caller: nothing ahead.
		return t.Tx.LimitTAT(ctx, key)
	}
	if tat, ok := t.limits[key]; ok {
		delete(t.limits, key)
		return tat, nil
	}
	t.limitsAhead = slices.DeleteFunc(t.limitsAhead, func(k string) bool { return k == key })
	return t.Tx.LimitTAT(ctx, key)
}

// Query runs the read q and calls fn for each row.
func (t *txn) Query(ctx context.Context, q *sqlstore.Stmt, args []any, fn func(sqlstore.Scanner) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := t.q().Query(ctx, q.Numbered, args...)
	if err != nil {
		return t.classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return t.classify(rows.Err())
}

// Atomic runs fn so that all its statements commit together: in the
// current transaction, or in one of their own.
func (t *txn) Atomic(ctx context.Context, fn func(db sqlstore.DB) error) error {
	if t.tx != nil {
		return fn(t)
	}
	return t.s.update(ctx, false, func(t *txn) error { return fn(t) })
}

// Snapshot runs fn's reads in one REPEATABLE READ, read-only transaction
// (or in the current transaction), so they see one state of the
// database.
func (t *txn) Snapshot(ctx context.Context, fn func(db sqlstore.DB) error) error {
	if t.tx != nil {
		return fn(t)
	}
	tx, err := t.s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	st := newTxn(t.s, tx)
	st.readOnly = true
	return fn(st)
}

// LocksRows reports whether t is a read-write transaction, in which
// reading a row by key locks it.
func (t *txn) LocksRows() bool { return t.tx != nil && !t.readOnly }

// row is a pgx.Row whose missing row is store.ErrNotFound and whose
// errors are classified.
type row struct {
	r pgx.Row
	t *txn
}

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return r.t.classify(err)
}

// errRow is a row that could not be read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// FailStaleProcessingOrders makes every order invalid with p that has been
// processing since before before, and returns how many it changed. It is
// the multi-instance form of FailProcessingOrders: an instance that crashed
// while signing leaves its orders processing, and a live one fails them
// once no signer can still be working on them.
func (s *Store) FailStaleProcessingOrders(ctx context.Context, before time.Time, p *problem.Error) (int, error) {
	return sqlstore.FailStaleProcessingOrders(ctx, &s.txn, before, p)
}

// brief returns ctx for a statement that touches a row or two: an error if
// ctx has already ended, else ctx without its cancellation. pgx answers a
// cancellation during a statement by closing the connection, a high price
// for a statement that takes a fraction of a millisecond.
func brief(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// classify is the package's classify, and marks the transaction for
// another run when err says it would succeed then.
func (t *txn) classify(err error) error {
	if retryable(err) {
		t.retry = true
	}
	var pe *pgconn.PgError
	if t.tx != nil && errors.As(err, &pe) {
		if pe.Code == "25P02" { // in_failed_sql_transaction
			t.wentOn = true
		} else if !t.savepoints {
			t.failed = true
		}
	}
	return classify(err)
}

// classify turns PostgreSQL's constraint errors into the store's: a broken
// uniqueness is ErrConflict, a reference to a missing row ErrNotFound.
func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

// ExecAll runs ws in one batch, one round trip: inside Update's fn in a
// savepoint of their own, so that a failed write leaves the transaction
// usable with none of ws done; outside a transaction, in one of their
// own. It returns the index of the write that failed.
func (t *txn) ExecAll(ctx context.Context, ws []sqlstore.Write) (int, error) {
	if t.tx == nil {
		failed := -1
		err := t.s.update(ctx, false, func(t *txn) error {
			var err error
			failed, err = t.ExecAll(ctx, ws)
			return err
		})
		return failed, err
	}
	ctx, err := brief(ctx)
	if err != nil {
		return -1, err
	}
	b := &pgx.Batch{}
	if t.savepoints {
		b.Queue("SAVEPOINT all_writes")
	}
	for _, w := range ws {
		b.Queue(w.Stmt.Numbered, w.Args...)
	}
	if t.savepoints {
		b.Queue("RELEASE SAVEPOINT all_writes")
	}
	br := t.tx.SendBatch(ctx, b)
	failed := -1
	if t.savepoints {
		_, err = br.Exec()
	}
	for i := range ws {
		if err != nil {
			break
		}
		if _, err = br.Exec(); err != nil {
			failed = i
		}
	}
	if err == nil && t.savepoints {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return -1, nil
	}
	if t.savepoints {
		if _, rerr := t.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT all_writes; RELEASE SAVEPOINT all_writes"); rerr != nil {
			return failed, errors.Join(t.classify(err), rerr)
		}
	}
	return failed, t.classify(err)
}
