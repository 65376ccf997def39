// Package sqlstore is the SQL that store/sqlite and store/postgres share:
// every statement, the arguments it takes and the scanner of its rows,
// written once, and the store.Tx methods built from them (Tx). A backend
// supplies only how a statement runs (DB): SQLite's writer goroutine,
// group commit and row cache, PostgreSQL's pool, savepoints, retries and
// row locks.
//
// Statements are written with ? placeholders; Stmt.Numbered is the same
// text with $1, $2, ... for PostgreSQL (the rebind step of sqlx). Times
// are stored as integer microseconds (NULL for the zero time), lists and
// problem documents as JSON text, IDs as text.
package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// DB is what a backend gives the shared methods: a place to run
// statements, either one transaction or, outside any, the backend itself.
type DB interface {
	// Exec runs the write q and returns how many rows it changed.
	// Outside a transaction the write is a transaction of its own. A
	// broken uniqueness is store.ErrConflict, a reference to a missing
	// row store.ErrNotFound. c says what the write does to rows a
	// backend may cache (see Change); it counts only once committed.
	Exec(ctx context.Context, c Change, q *Stmt, args ...any) (int, error)
	// QueryRow runs the read q of one row; its Scan returns
	// store.ErrNotFound when there is no row.
	QueryRow(ctx context.Context, q *Stmt, args ...any) Scanner
	// Query runs the read q and calls row for each row, until row
	// returns an error.
	Query(ctx context.Context, q *Stmt, args []any, row func(Scanner) error) error
	// Atomic runs fn so that all its statements commit together: in the
	// current transaction, or in one of their own.
	Atomic(ctx context.Context, fn func(db DB) error) error
	// Snapshot runs fn's reads so that they see one state of the
	// database.
	Snapshot(ctx context.Context, fn func(db DB) error) error
	// LocksRows reports whether reading a row with a LockKey statement
	// locks it until the transaction ends (PostgreSQL, inside a
	// transaction): then a rate limit's missing row is made to be
	// locked.
	LocksRows() bool
}

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row or pgx.Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// Kind is a kind of row a backend may cache by its key.
type Kind int

// The kinds of rows the ACME server reads on nearly every request.
const (
	NoKind Kind = iota
	Accounts
	Devices
	Orders
	Authorizations
	Certificates
	AttestPolicies // by model; read twice per issuance, and mostly absent
)

// Change is what a write does to one kind of cached row: Row, when set,
// is the row with Key as written (it is created); otherwise the row with
// Key changed, or, with Key empty, any number of them did.
type Change struct {
	Kind Kind
	Key  string
	Row  any
}

// None is the Change of a write to rows no backend caches.
var None Change

// Stmt is one SQL statement.
type Stmt struct {
	ID       int    // its index in All, for backends that prepare them
	SQL      string // with ? placeholders
	Numbered string // with $1, $2, ... placeholders
	// LockKey marks a read of one row by its key that, where the backend
	// locks rows it reads (LocksRows), locks the row: a transaction that
	// reads a row to decide what to write (is the device still active? is
	// the order still ready?) then holds off every other that reads the
	// same row to decide, and the one that waits reads what the first
	// committed.
	LockKey bool
	// Blind marks a write whose caller reads neither a count nor an
	// error it could act on (a rate limit's new time, an audit entry with
	// a fresh ID): it fails only with the whole transaction. Inside a
	// transaction a backend may send it later, with the transaction's next
	// statement or its commit, and report its count as 0.
	Blind bool
}

// All is every statement, in the order of their IDs.
var All []*Stmt

func newStmt(sql string, lockKey bool) *Stmt {
	s := &Stmt{ID: len(All), SQL: sql, Numbered: Rebind(sql), LockKey: lockKey}
	All = append(All, s)
	return s
}

// blindWrite declares a write that may be sent with the transaction's
// next statement (Stmt.Blind).
func blindWrite(sql string) *Stmt {
	s := newStmt(sql, false)
	s.Blind = true
	return s
}

// stmt declares a statement.
func stmt(sql string) *Stmt { return newStmt(sql, false) }

// keyRead declares a read of one row by its key, which locks the row
// inside a transaction where the backend locks rows (Stmt.LockKey).
func keyRead(sql string) *Stmt { return newStmt(sql, true) }

// Rebind turns the ? placeholders of sql into $1, $2, ...; a ? inside a
// quoted string stays.
func Rebind(sql string) string {
	var b strings.Builder
	n, quoted := 0, false
	for _, r := range sql {
		switch {
		case r == '\'':
			quoted = !quoted
		case r == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// get runs the single-row read q and scans its row.
func get[T any](ctx context.Context, db DB, q *Stmt, scan func(Scanner) (T, error), what, key string) (T, error) {
	v, err := scan(db.QueryRow(ctx, q, key))
	if err != nil {
		return v, fmt.Errorf("get %s %q: %w", what, key, err)
	}
	return v, nil
}

// list runs the read q and scans every row. It returns an empty, non-nil
// slice when there are none, so that callers writing JSON send [] rather
// than null.
func list[T any](ctx context.Context, db DB, q *Stmt, scan func(Scanner) (T, error), args ...any) ([]T, error) {
	out := []T{}
	err := db.Query(ctx, q, args, func(r Scanner) error {
		v, err := scan(r)
		if err == nil {
			out = append(out, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listOwned lists with the query all when ownerID is empty, else with
// byOwner, which takes the owner's ID.
func listOwned[T any](ctx context.Context, db DB, all, byOwner *Stmt, scan func(Scanner) (T, error), ownerID string) ([]T, error) {
	if ownerID == "" {
		return list(ctx, db, all, scan)
	}
	return list(ctx, db, byOwner, scan, ownerID)
}

// exec runs a write that changes no cached row.
func exec(ctx context.Context, db DB, q *Stmt, args ...any) (int, error) {
	return db.Exec(ctx, None, q, args...)
}

// changeOne runs the write q, which must change the row with key key. If
// it changes nothing, the row is missing (ErrNotFound) or, when the query
// exists finds it, failed q's precondition (ErrConflict). A nil exists
// means every unchanged row is missing.
func changeOne(ctx context.Context, db DB, c Change, q, exists *Stmt, key string, args ...any) error {
	n, err := db.Exec(ctx, c, q, args...)
	if err != nil || n > 0 {
		return err
	}
	if exists == nil {
		return store.ErrNotFound
	}
	var one int
	if err := db.QueryRow(ctx, exists, key).Scan(&one); err != nil {
		return err
	}
	return store.ErrConflict
}

// Now returns the current time as the store keeps it.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// fillTime sets a zero *t to now.
func fillTime(t *time.Time) {
	if t.IsZero() {
		*t = Now()
	}
}

// fillID sets an empty *id to a new ID.
func fillID(id *string) {
	if *id == "" {
		*id = store.NewID(Now())
	}
}

// micros is t as stored: unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// Truncate returns t in the form the store returns it.
func Truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// marshal is v as JSON text. A nil slice is stored as null and an empty
// one as [], so each reads back as it was written.
func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func marshalProblem(p *problem.Error) (any, error) {
	if p == nil {
		return nil, nil
	}
	return marshal(p)
}

// MarshalChallenges is an authorization's challenges column.
func MarshalChallenges(cs []store.Challenge) (string, error) {
	if cs != nil {
		cs = append([]store.Challenge{}, cs...)
		for i := range cs {
			cs[i].Validated = Truncate(cs[i].Validated)
		}
	}
	return marshal(cs)
}

// DecodeChallenges reads an authorization's challenges column.
func DecodeChallenges(s string) ([]store.Challenge, error) {
	var cs []store.Challenge
	if err := json.Unmarshal([]byte(s), &cs); err != nil {
		return nil, err
	}
	for i := range cs {
		cs[i].Validated = Truncate(cs[i].Validated)
	}
	return cs, nil
}

// Write is one write of ExecAll.
type Write struct {
	Change Change
	Stmt   *Stmt
	Args   []any
}

// batcher is a DB that runs several writes in one exchange with the
// database (PostgreSQL's pipelined batch).
type batcher interface {
	// ExecAll runs ws in order, all or none; it returns the index of the
	// write that failed with its error.
	ExecAll(ctx context.Context, ws []Write) (int, error)
}

// ExecAll runs the writes ws in order so that all or none commit, and
// returns the index of the one that failed, with its error: on a DB that
// batches (PostgreSQL) in one round trip, elsewhere one after the other in
// one Atomic. How many rows each changed is not reported: it is for
// inserts, which fail rather than change nothing.
func ExecAll(ctx context.Context, db DB, ws []Write) (int, error) {
	if b, ok := db.(batcher); ok {
		return b.ExecAll(ctx, ws)
	}
	failed := -1
	err := db.Atomic(ctx, func(db DB) error {
		for i, w := range ws {
			if _, err := db.Exec(ctx, w.Change, w.Stmt, w.Args...); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	return failed, err
}
