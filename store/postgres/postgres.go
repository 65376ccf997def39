// Package postgres implements store.Store on PostgreSQL, for several issuer
// instances sharing one database. Its schema is kept by goose migrations,
// store/internal/schema's rendered in PostgreSQL's dialect.
//
// Unlike store/sqlite it keeps no row cache: every read goes to the
// database, so a write through one instance is seen by every other at once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/schema"
)

// defaultMaxConns is the size of an instance's connection pool unless the
// URL sets pool_max_conns: pgx's default (the number of CPUs, at least 4)
// leaves little room once the upstream signer's queue holds one connection
// for its lock and others wait on locked rows.
const defaultMaxConns = 10

// maxAttempts bounds how often Update runs fn when PostgreSQL cancels its
// transaction for a deadlock or a serialization failure.
const maxAttempts = 20

// Store is a store.Store in a PostgreSQL database. Methods called on it
// run on a connection pool, each as one statement or one transaction.
//
// Update runs fn in one READ COMMITTED transaction in which reading a row
// by its key locks it (SELECT ... FOR UPDATE), and so does reading a rate
// limit: the issuer decides what to write from rows it has read (the
// device is active, the order is ready, the limit has room), and a second
// transaction deciding from the same row waits for the first and then
// reads what it committed, as behind SQLite's single writer. Writes that
// decide for themselves (an order moving only from the status expected, an
// EAB key used only once, a nonce spent only once) need no lock. Lists and
// counts lock nothing; they are right where the issuer reads the row
// that owns them first (a device's certificates after the device). This
// was SERIALIZABLE first: under load its predicate locks on the right
// edges of the time-ordered indexes made nearly every pair of concurrent
// new orders a serialization failure.
type Store struct {
	txn
	pool   *pgxpool.Pool
	trace  *tracer
	nonces *nonceBatcher
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; see pgx.ParseConfig and pgxpool.ParseConfig, whose
// pool_max_conns sets the pool's size, default 10) and migrates its schema
// to the newest version. Instances opening one database at once migrate it one at
// a time (goose's advisory lock).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors repeat the URL, password included.
		return nil, errors.New("open store: the PostgreSQL connection string is not valid: use postgres://user:password@host:port/database")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	trace := &tracer{}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", describe(cfg), err)
	}
	s := &Store{pool: pool, trace: trace, nonces: newNonceBatcher(pool)}
	s.txn = txn{s: s}
	s.txn.Tx.DB = &s.txn
	return s, nil
}

// Update runs fn in one transaction (see Store), committing only if fn
// returns nil. When PostgreSQL aborts the transaction for a deadlock (two
// transactions locking the same rows in opposite orders) or a
// serialization failure, it runs fn again, up to maxAttempts times. fn's
// error is returned as it is; a panic in fn is passed on after the
// rollback.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.update(ctx, true, func(t *txn) error { return fn(t) })
}

// update runs fn in a transaction as Update does. With mayGoOn, fn may go
// on after a failed statement (a conflict), as it can on SQLite: it runs
// first without savepoints, and should it go on after a failure (which
// ends a PostgreSQL transaction), again with each write in a savepoint of
// its own, undone alone when it fails. Savepoints are two statements and
// a subtransaction per write, and nearly every fn returns the first
// failure it meets. Without mayGoOn (the store's own multi-statement
// methods), the first failure ends the transaction.
func (s *Store) update(ctx context.Context, mayGoOn bool, fn func(t *txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// What was read ahead under ctx came before this write.
	store.AheadOf(ctx).Forget()
	ahead := txAhead{limits: store.AheadOf(ctx).ExpectedLimits()}
	ahead.openAccount, ahead.openNow = store.AheadOf(ctx).ExpectedOpenOrders()
	savepoints := false
	for attempt := 1; ; attempt++ {
		retry, err := s.attempt(ctx, savepoints, ahead, fn)
		if errors.Is(err, errWentOn) || (err != nil && retry == wentOn) {
			if mayGoOn && !savepoints {
				savepoints = true
				continue
			}
			retry = noRetry
		}
		if err == nil || attempt == maxAttempts || retry != retryLater {
			return err
		}
		// Jittered, growing pauses, so that two transactions that collided
		// do not collide again.
		pause := time.Duration(rand.Int64N(int64(min(attempt, 10))*int64(time.Millisecond))) + 100*time.Microsecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// txAhead is what an Update's caller said its transaction reads
// (store.ExpectLimits, store.ExpectOpenOrders), to send with its first
// row read.
type txAhead struct {
	limits      []string
	openAccount string
	openNow     time.Time
}

// What an attempt's failure asks of update.
type again int

const (
	noRetry    again = iota
	retryLater       // a deadlock or serialization failure
	wentOn           // fn went on after a failed statement
)

// errWentOn is an attempt's error when fn returned nil after a statement
// failed: the transaction cannot commit.
var errWentOn = errors.New("the transaction went on after a failed statement")

// attempt runs fn in one transaction and reports whether, and how,
// running it again may succeed where it failed.
func (s *Store) attempt(ctx context.Context, savepoints bool, ahead txAhead, fn func(t *txn) error) (retry again, err error) {
	tx, err := beginLazy(ctx, s.pool, "begin isolation level read committed")
	if err != nil {
		return noRetry, classify(err)
	}
	t := newTxn(s, tx)
	t.savepoints = savepoints
	t.limitsAhead = slices.Clone(ahead.limits)
	if ahead.openAccount != "" {
		t.openAhead = &openOrders{account: ahead.openAccount, now: ahead.openNow}
	}
	defer func() {
		// A rollback that fails (a dead connection) leaves nothing to undo:
		// PostgreSQL rolls back what it never saw committed.
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(t); err != nil {
		// fn may have wrapped the statement's error beyond recognition,
		// or turned it into a problem of its own: t remembers.
		switch {
		case t.wentOn:
			return wentOn, err
		case t.retry || retryable(err):
			return retryLater, err
		}
		return noRetry, err
	}
	if t.failed {
		return wentOn, errWentOn
	}
	err = tx.Commit(ctx)
	if retryable(err) {
		return retryLater, classify(err)
	}
	return noRetry, classify(err)
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// retryable reports whether err is PostgreSQL cancelling a transaction that
// would succeed if run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "40001" || pe.Code == "40P01" // serialization_failure, deadlock_detected
}

// describe names the database of cfg for messages, without its password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// migrate brings the schema to the newest embedded migration, holding a
// PostgreSQL advisory lock so that instances starting together take turns.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	fsys, err := schema.Migrations(schema.PostgreSQL)
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker),
		// Other streams number their migrations in their own ranges and
		// land in any order; each stands alone.
		goose.WithAllowOutofOrder(true))
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Exclusive runs fn while holding the PostgreSQL advisory lock named
// name, so that of the instances sharing the database only one runs it at
// a time (the issuer creates its CA files under one). The lock is a
// session lock on a connection of its own, released when fn returns or
// the connection ends.
func (s *Store) Exclusive(ctx context.Context, name string, fn func() error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, name); err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, name); err != nil {
			// A lock that cannot be given back must not stay with a
			// connection the pool hands out again.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn()
}

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }
