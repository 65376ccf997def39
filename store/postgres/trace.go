package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// tracer counts the round trips an instance makes to the database: each
// statement (a query, an exec, BEGIN and COMMIT among them), each batch
// (however many statements it carries, one exchange), each prepare. It is
// how tests hold the issuance flow to a number of round trips. It counts
// the statements too, those in batches one by one.
type tracer struct{ n, stmts atomic.Int64 }

var (
	_ pgx.QueryTracer   = (*tracer)(nil)
	_ pgx.BatchTracer   = (*tracer)(nil)
	_ pgx.PrepareTracer = (*tracer)(nil)
)

func (t *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.n.Add(1)
	t.stmts.Add(1)
	return ctx
}

func (t *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (t *tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (t *tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) { t.stmts.Add(1) }
func (t *tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (t *tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	t.n.Add(1)
	return ctx
}

func (t *tracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// RoundTrips returns how many round trips the Store has made to the
// database since it was opened (statements, batches and prepares; pings
// and connection set-up aside).
func (s *Store) RoundTrips() int64 { return s.trace.n.Load() }

// Statements returns how many statements the Store has sent to the
// database since it was opened, each statement of a batch counted.
func (s *Store) Statements() int64 { return s.trace.stmts.Load() }
