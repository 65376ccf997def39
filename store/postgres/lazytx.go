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
// statement costs no round trip at all.
type lazyTx struct {
	c     *pgxpool.Conn
	begin string // the BEGIN not yet sent; "" once it has been
	sent  bool   // BEGIN has gone out: there is a transaction to end
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

// withBegin returns b with the pending BEGIN in front, and whether it added
// it.
func (l *lazyTx) withBegin(b *pgx.Batch) (*pgx.Batch, bool) {
	if l.begin == "" {
		return b, false
	}
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	nb.Queue(l.begin)
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	l.begin, l.sent = "", true
	return nb, true
}

// SendBatch sends b, after the BEGIN if it is still pending.
func (l *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	nb, begun := l.withBegin(b)
	br := l.c.SendBatch(ctx, nb)
	if begun {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return errBatch{err}
		}
	}
	return br
}

// Exec runs sql, after the BEGIN if it is still pending.
func (l *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if l.begin == "" {
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

// Query runs sql, after the BEGIN if it is still pending.
func (l *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if l.begin == "" {
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

// QueryRow runs sql, after the BEGIN if it is still pending.
func (l *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if l.begin == "" {
		return l.c.QueryRow(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br := l.SendBatch(ctx, b)
	return batchRow{br}
}

// Commit commits the transaction and gives the connection back.
func (l *lazyTx) Commit(ctx context.Context) error {
	defer l.c.Release()
	if !l.sent {
		return nil
	}
	l.sent = false
	tag, err := l.c.Exec(ctx, "commit")
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
