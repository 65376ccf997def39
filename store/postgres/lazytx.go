package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// conn is what a transaction's statements run on: a pgx.Tx, or a lazyTx.
type conn interface {
	querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// lazyTx is a read-write transaction on a connection of the pool whose
// BEGIN goes to the server with its first statement, in one batch, instead
// of in a round trip of its own as pgx.Tx's does; one that ran no
// statement costs no round trip at all. Blind writes (sqlstore.Stmt.Blind)
// wait in the same way and go with the next statement or the COMMIT.
type lazyTx struct {
	c     *pgxpool.Conn
	begin string // the BEGIN not yet sent; "" once it has been
	sent  bool   // BEGIN has gone out: there is a transaction to end
	// deferred are blind writes not yet sent; they go before anything
	// sent after them, so the transaction's reads see them.
	deferred []*pgx.QueuedQuery
}

var _ conn = (*lazyTx)(nil)

// beginLazy acquires a connection for a transaction that begins with
// begin.
func beginLazy(ctx context.Context, pool *pgxpool.Pool, begin string) (*lazyTx, error) {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &lazyTx{c: c, begin: begin}, nil
}

// Defer queues the blind write sql to go with the next statement or the
// commit. Its failure fails the statement it goes with, and the
// transaction.
func (l *lazyTx) Defer(sql string, args ...any) {
	l.deferred = append(l.deferred, &pgx.QueuedQuery{SQL: sql, Arguments: args})
}

// pending reports whether a BEGIN or blind writes wait to be sent.
func (l *lazyTx) pending() bool { return l.begin != "" || len(l.deferred) > 0 }

// withPending returns b with the pending BEGIN and blind writes in front,
// and how many it put there.
func (l *lazyTx) withPending(b *pgx.Batch) (*pgx.Batch, int) {
	if !l.pending() {
		return b, 0
	}
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+len(l.deferred)+1)}
	if l.begin != "" {
		nb.Queue(l.begin)
		l.begin, l.sent = "", true
	}
	nb.QueuedQueries = append(nb.QueuedQueries, l.deferred...)
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	n := len(nb.QueuedQueries) - len(b.QueuedQueries)
	l.deferred = nil
	return nb, n
}

// SendBatch sends b, after the BEGIN and blind writes still pending.
func (l *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	nb, n := l.withPending(b)
	br := l.c.SendBatch(ctx, nb)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return errBatch{err}
		}
	}
	return br
}

// Exec runs sql, after what is still pending.
func (l *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !l.pending() {
		return l.c.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := l.SendBatch(ctx, b)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs sql, after what is still pending.
func (l *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !l.pending() {
		return l.c.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := l.SendBatch(ctx, b)
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs sql, after what is still pending.
func (l *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if !l.pending() {
		return l.c.QueryRow(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := l.SendBatch(ctx, b)
	return batchRow{br}
}

// Commit commits the transaction, with the blind writes still pending,
// and gives the connection back.
func (l *lazyTx) Commit(ctx context.Context) error {
	defer l.c.Release()
	if !l.pending() && !l.sent {
		return nil
	}
	// Exec sends what is pending and the COMMIT in one batch.
	tag, err := l.Exec(ctx, "commit")
	l.sent = false
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback rolls the transaction back and gives the connection back. The
// pool closes a connection left inside a transaction rather than reuse it.
func (l *lazyTx) Rollback(ctx context.Context) error {
	defer l.c.Release()
	l.begin, l.deferred = "", nil
	if !l.sent {
		return nil
	}
	l.sent = false
	_, err := l.c.Exec(ctx, "rollback")
	return err
}

// batchRow is the one row of a batch's single query; reading it closes
// the batch.
type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// batchRows are the rows of a batch's single query; closing them closes
// the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

// errBatch is the results of a batch whose BEGIN failed.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
