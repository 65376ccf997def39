package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// The writer: one goroutine owns the writer connection and orders every
// write transaction. When several writes are waiting it runs them together
// in one SQLite transaction (group commit), each inside its own savepoint,
// so that one WAL append and one round of locks serve them all, and a
// failing one is rolled back alone. Callers cannot tell the difference from
// one transaction each: a write is reported only after its commit, and one
// that failed left nothing behind.
//
// The fn of an Update runs on its caller's goroutine, while the writer
// waits: the writer hands it the transaction and gets back how fn ended. So
// a panic, or runtime.Goexit (t.Fatal in a test), in fn unwinds the caller
// as usual, and the writer merely rolls fn's savepoint back. The store's own
// write methods, short and known, the writer runs itself, saving two
// goroutine switches each.

// maxBatch bounds how many waiting writes share one commit, so that the
// first of them does not wait for long behind the others.
const maxBatch = 64

// externalCheckInterval is how often the writer looks for commits by other
// processes, which make the row caches stale (cache.go).
const externalCheckInterval = 50 * time.Millisecond

// errClosed is returned for writes after Close.
var errClosed = errors.New("store closed")

// write is one write transaction waiting for the writer.
type write struct {
	ctx context.Context
	// own, if set, is run by the writer itself; otherwise the caller runs
	// its fn when handed a turn.
	own func(t *txn) error
	// turn carries the transaction to run fn in, as often as the writer
	// asks (more than once only after a broken batch), then the result:
	// a turn with done set. Buffered, so the writer never waits on a
	// caller that has gone.
	turn chan turn
	// ran carries back how fn ended.
	ran chan outcome
}

// turn is a message from the writer to a write's caller.
type turn struct {
	tx    *sql.Tx  // run fn in tx, unless done
	batch *inBatch // what tx's writes did so far to cached rows
	bound *bound   // tx's statements bound so far
	done  bool
	err   error // the write's result, when done
	panic any   // what own panicked with, when done
}

// outcome is how fn ended: returning err, or aborting (panic or
// runtime.Goexit), after which its caller listens no more.
type outcome struct {
	err     error
	aborted bool
	panic   any             // what own panicked with
	fx      []func(*caches) // what fn did to cached rows, applied once committed
}

func (o outcome) failed() bool { return o.err != nil || o.aborted }

// errAborted is the outcome error of an fn that panicked or exited.
var errAborted = errors.New("write aborted")

// update runs fn, on the calling goroutine, in a write transaction and
// returns once it is committed or rolled back.
func (s *Store) update(ctx context.Context, fn func(t *txn) error) error {
	w := newWrite(ctx)
	if err := s.submit(w); err != nil {
		return err
	}
	// The writer has it now: follow it to the end even if ctx ends, since
	// the write may already be committed.
	return w.follow(s, fn)
}

// updateOnWriter is update for the store's own write methods: the writer
// runs fn itself. A panic in fn is passed on to the caller.
func (s *Store) updateOnWriter(ctx context.Context, fn func(t *txn) error) error {
	w := newWrite(ctx)
	w.own = fn
	if err := s.submit(w); err != nil {
		return err
	}
	return w.await()
}

// await waits for the result of a write the writer runs itself.
func (w *write) await() error {
	t := <-w.turn
	if t.panic != nil {
		panic(t.panic)
	}
	return t.err
}

// submit hands w to the writer.
func (s *Store) submit(w *write) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	select {
	case s.writes <- w:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	case <-s.closing:
		return errClosed
	}
}

func newWrite(ctx context.Context) *write {
	return &write{ctx: ctx, turn: make(chan turn, 1), ran: make(chan outcome, 1)}
}

// follow runs fn each time the writer hands w a transaction, until the
// writer reports w's result.
func (w *write) follow(s *Store, fn func(t *txn) error) error {
	for {
		t := <-w.turn
		if t.done {
			return t.err
		}
		tx := newTxn(s, t.tx, s.ws)
		tx.batch = t.batch
		tx.bound = t.bound
		w.run(fn, tx)
	}
}

// run runs fn in t and reports how it ended, also when it never returns.
func (w *write) run(fn func(t *txn) error, t *txn) {
	o := outcome{aborted: true}
	defer func() { w.ran <- o }()
	err := fn(t)
	o = outcome{err: err, fx: t.fx}
}

// writeLoop runs until Close, taking each waiting write together with any
// others that queued up behind it.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	tick := time.NewTicker(externalCheckInterval)
	defer tick.Stop()
	for {
		var first *write
		select {
		case first = <-s.writes:
		case <-tick.C:
			s.checkExternal(context.Background())
			continue
		case <-s.closing:
			return
		}
		// Let the goroutines that are ready to run reach their own
		// submit before the batch is cut: on a busy issuer this gathers
		// about four times as many writes per commit (a commit rewrites
		// every page its writes touched, so fewer commits write fewer
		// pages); on an idle one nothing else is ready and it returns
		// at once.
		runtime.Gosched()
		batch := []*write{first}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		if len(batch) == 1 {
			first.turn <- s.runAlone(first)
		} else {
			s.runBatch(batch)
		}
	}
}

// runAlone runs w in a transaction of its own and returns its result.
func (s *Store) runAlone(w *write) turn {
	if err := w.ctx.Err(); err != nil {
		return turn{done: true, err: err}
	}
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		return turn{done: true, err: fmt.Errorf("begin: %w", err)}
	}
	o := s.call(w, tx, s.beginBatch(tx), newBound(tx, s.ws))
	if o.failed() {
		tx.Rollback()
		return o.result()
	}
	if err := tx.Commit(); err != nil {
		return turn{done: true, err: fmt.Errorf("commit: %w", err)}
	}
	s.commits.Add(1)
	s.applyEffects(o.fx)
	return o.result()
}

// runBatch runs the writes of batch in one transaction, each in a
// savepoint, and reports to each once the transaction is committed. If the
// transaction breaks (SQLite rolls back the whole of it after some I/O
// errors), the writes that had not failed on their own are run again alone,
// as Update's contract allows.
func (s *Store) runBatch(batch []*write) {
	outcomes := make([]outcome, len(batch))
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		s.retryAlone(batch, outcomes)
		return
	}
	b := s.beginBatch(tx)
	bd := newBound(tx, s.ws)
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			outcomes[i] = outcome{err: err}
			continue
		}
		if err := s.savepoint(bd, savepoint); err != nil {
			tx.Rollback()
			s.retryAlone(batch, outcomes)
			return
		}
		outcomes[i] = s.call(w, tx, b, bd)
		end := []int{releaseSavepoint}
		if outcomes[i].failed() {
			end = []int{rollbackToSavepoint, releaseSavepoint}
		}
		if err := s.savepoint(bd, end...); err != nil {
			tx.Rollback()
			s.retryAlone(batch, outcomes)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.retryAlone(batch, outcomes)
		return
	}
	s.commits.Add(1)
	for _, o := range outcomes {
		if !o.failed() {
			s.applyEffects(o.fx)
		}
	}
	for i, w := range batch {
		w.turn <- outcomes[i].result()
	}
}

// retryAlone reports the writes of a broken batch that failed on their own,
// and runs the others again, each alone.
func (s *Store) retryAlone(batch []*write, outcomes []outcome) {
	for i, w := range batch {
		if outcomes[i].failed() {
			w.turn <- outcomes[i].result()
		} else {
			w.turn <- s.runAlone(w)
		}
	}
}

// call runs w's fn in tx, itself or by its caller, and returns how it
// ended.
func (s *Store) call(w *write, tx *sql.Tx, b *inBatch, bd *bound) outcome {
	if w.own != nil {
		return s.runOwn(w.own, tx, b, bd)
	}
	w.turn <- turn{tx: tx, batch: b, bound: bd}
	o := <-w.ran
	if o.aborted {
		o.err = errAborted
	}
	return o
}

// runOwn runs fn on the writer, catching a panic so that the writer lives
// on and the caller gets it back.
func (s *Store) runOwn(fn func(t *txn) error, tx *sql.Tx, b *inBatch, bd *bound) (o outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = outcome{err: errAborted, aborted: true, panic: v}
		}
	}()
	t := newTxn(s, tx, s.ws)
	t.batch = b
	t.bound = bd
	err := fn(t)
	return outcome{err: err, fx: t.fx}
}

// result is the final message to the caller of a write that ended so.
func (o outcome) result() turn { return turn{done: true, err: o.err, panic: o.panic} }

// The writer's own statements, prepared on it as s.sp: those of a
// batch's savepoints, and the read of data_version (cache.go).
const (
	savepoint = iota
	releaseSavepoint
	rollbackToSavepoint
	readDataVersion
)

var savepoints = [...]string{
	savepoint:           `SAVEPOINT one_write`,
	releaseSavepoint:    `RELEASE one_write`,
	rollbackToSavepoint: `ROLLBACK TO one_write`,
	readDataVersion:     `PRAGMA data_version`,
}

// savepoint runs savepoint statements.
func (s *Store) savepoint(bd *bound, qs ...int) error {
	for _, q := range qs {
		s.stmts.Add(1)
		st := bd.sp[q]
		if st == nil {
			st = bd.tx.Stmt(s.sp[q])
			bd.sp[q] = st
		}
		if _, err := st.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// bound holds the statements of one write transaction bound to it so far,
// each bound once: Tx.Stmt does not prepare again on the writer's one
// connection, but it allocates a statement and adds it to the
// transaction's list each time. The writes of a transaction run one at a
// time (the writer waits for each), so bound needs no lock.
type bound struct {
	tx *sql.Tx
	ss statements // the writer's, by ID
	st []*sql.Stmt
	sp [len(savepoints)]*sql.Stmt
}

func newBound(tx *sql.Tx, ss statements) *bound {
	return &bound{tx: tx, ss: ss, st: make([]*sql.Stmt, len(ss))}
}

// stmt returns the statement id bound to the transaction.
func (bd *bound) stmt(ctx context.Context, id int) *sql.Stmt {
	st := bd.st[id]
	if st == nil {
		st = bd.tx.StmtContext(ctx, bd.ss[id])
		bd.st[id] = st
	}
	return st
}
