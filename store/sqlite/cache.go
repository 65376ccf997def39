package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/internal/sqlstore"
)

// The row cache: the rows the ACME server reads outside transactions on
// nearly every request (the account of each JWS, the device of each order,
// the authorizations, order and certificate of an issuance, the
// attestation rule of the device's model, mostly none) are kept in
// memory. A reader connection's page cache is dropped at the start of every
// read that follows a commit, so under load each of those reads walked its
// B-tree from disk pages again. With the cache an issuance makes three
// reads from the reader pool (the account by key, the EAB key, the device)
// instead of fifteen.
//
// It stays exact for this process and close behind other processes:
//   - a write records what it did to cached kinds of rows (created, changed,
//     changed in bulk) in its txn; once the write has committed, and before
//     its caller returns, the new rows are put in the cache and changed ones
//     dropped. A write that failed or was rolled back records nothing.
//   - a write by another process (lantls admin on the same data dir) is
//     seen by the writer, which asks SQLite every externalCheckInterval
//     whether another connection committed (PRAGMA data_version, which on
//     the writer connection changes only then), and empties every cache;
//   - a read that raced with a drop or a reset puts nothing: a value read
//     from the database is kept only if no drop or reset happened between
//     the read's start and its end.
//
// So a device revoked with the CLI is refused by a running issuer within
// externalCheckInterval; the ACME server checks the device again inside the
// transactions that create orders and record certificates.
//
// Reads inside a write transaction see the transaction: they use the cache
// only where it is exact for the transaction, which is decided when it
// begins and as it goes (inBatch):
//   - the writer holds SQLite's write lock from BEGIN (IMMEDIATE) to the
//     end, and reads data_version right after BEGIN, emptying every cache
//     if another process committed since its last look; no other process
//     can commit until the transaction ends;
//   - every earlier transaction of this process has committed and its rows
//     are in the caches before the next one begins (the writer applies a
//     commit's effects before it begins another);
//   - a row that a write of this transaction (or of an earlier write in
//     the same batch) has touched, or whose kind it changed in bulk, is read
//     through the transaction, since its effect waits for the commit.
//
// Snapshots and reads outside transactions are as above.

// maxCachedRows bounds each cache: it holds the rows used since it last
// filled up, and at most twice this many.
const maxCachedRows = 20_000

// rowCache is a cache of one kind of row by ID: a current and a previous
// map, the previous one dropped whenever the current one fills up, so that
// recently used rows stay.
type rowCache[T any] struct {
	clone func(T) T // copies a row so that callers may change theirs
	mu    sync.Mutex
	gen   uint64 // counts drops and resets
	rows  map[string]T
	old   map[string]T
}

// get returns a copy of the cached row with id, if any, and the
// generation a read that misses must hand to put.
func (c *rowCache[T]) get(id string) (v T, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.rows[id]; !ok {
		if v, ok = c.old[id]; ok {
			c.store(id, v)
		}
	}
	if ok {
		v = c.clone(v)
	}
	return v, c.gen, ok
}

// put keeps a copy of v, read after get returned gen, unless a row was
// dropped or the cache reset since.
func (c *rowCache[T]) put(id string, v T, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.store(id, c.clone(v))
	}
}

// created keeps v, a row just committed; no read can have raced with it.
func (c *rowCache[T]) created(id string, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store(id, v)
}

func (c *rowCache[T]) store(id string, v T) {
	if c.rows == nil || len(c.rows) >= maxCachedRows {
		c.old, c.rows = c.rows, make(map[string]T)
	}
	c.rows[id] = v
}

// drop forgets the row with id and fails every read in flight to put.
func (c *rowCache[T]) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.rows, id)
	delete(c.old, id)
}

// reset empties the cache and fails every read in flight to put.
func (c *rowCache[T]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.rows, c.old = nil, nil
}

// caches are the row caches of a Store.
type caches struct {
	accounts rowCache[*store.Account]
	devices  rowCache[*store.Device]
	orders   rowCache[*store.Order]
	authzs   rowCache[*store.Authorization]
	certs    rowCache[*store.Certificate]
	// policies holds attestation rules by model, nil for a model
	// without one.
	policies rowCache[*store.AttestPolicy]
	// dataVersion is the writer connection's last PRAGMA data_version,
	// read by the writer goroutine (and by tests that run batches beside
	// it).
	dataVersion atomic.Int64
}

func newCaches() *caches {
	return &caches{
		accounts: rowCache[*store.Account]{clone: cloneAccount},
		devices:  rowCache[*store.Device]{clone: cloneDevice},
		orders:   rowCache[*store.Order]{clone: cloneOrder},
		authzs:   rowCache[*store.Authorization]{clone: cloneAuthorization},
		certs:    rowCache[*store.Certificate]{clone: cloneCertificate},
		policies: rowCache[*store.AttestPolicy]{clone: clonePolicy},
	}
}

// The clones copy a row deep enough that changing the copy's fields and
// slices leaves the original alone. Problem documents are never changed in
// place, so copies share them.

func cloneAccount(a *store.Account) *store.Account {
	c := *a
	c.KeyJWK, c.Contact = slices.Clone(a.KeyJWK), slices.Clone(a.Contact)
	return &c
}

func cloneDevice(d *store.Device) *store.Device {
	c := *d
	return &c
}

func cloneOrder(o *store.Order) *store.Order {
	c := *o
	c.Identifiers, c.AuthorizationIDs = slices.Clone(o.Identifiers), slices.Clone(o.AuthorizationIDs)
	return &c
}

func cloneAuthorization(a *store.Authorization) *store.Authorization {
	c := *a
	c.Challenges = slices.Clone(a.Challenges)
	return &c
}

func cloneCertificate(x *store.Certificate) *store.Certificate {
	c := *x
	c.Names, c.ChainPEM = slices.Clone(x.Names), slices.Clone(x.ChainPEM)
	return &c
}

func clonePolicy(p *store.AttestPolicy) *store.AttestPolicy {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func (c *caches) reset() {
	c.accounts.reset()
	c.devices.reset()
	c.orders.reset()
	c.authzs.reset()
	c.certs.reset()
	c.policies.reset()
}

// getCached is load through the cache c of rows of kind, for reads outside
// a transaction, and inside a write transaction for the rows it has not
// touched; other reads inside one see the transaction and never the
// cache. Like every read it fails once ctx is done.
func getCached[T any](ctx context.Context, t *txn, kind sqlstore.Kind, c *rowCache[T], load func(context.Context, string) (T, error), key string) (T, error) {
	if t.tx != nil && !t.batch.untouched(kind, key) {
		return load(ctx, key)
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	v, gen, ok := c.get(key)
	if ok {
		return v, nil
	}
	v, err := load(ctx, key)
	if err == nil {
		c.put(key, v, gen)
	}
	return v, err
}

// GetDevice returns the device with ID id.
func (t *txn) GetDevice(ctx context.Context, id string) (*store.Device, error) {
	return getCached(ctx, t, sqlstore.Devices, &t.s.caches.devices, t.Tx.GetDevice, id)
}

// GetAccount returns the account with ID id.
func (t *txn) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return getCached(ctx, t, sqlstore.Accounts, &t.s.caches.accounts, t.Tx.GetAccount, id)
}

// GetOrder returns the order with ID id.
func (t *txn) GetOrder(ctx context.Context, id string) (*store.Order, error) {
	return getCached(ctx, t, sqlstore.Orders, &t.s.caches.orders, t.Tx.GetOrder, id)
}

// GetAuthorization returns the authorization with ID id.
func (t *txn) GetAuthorization(ctx context.Context, id string) (*store.Authorization, error) {
	return getCached(ctx, t, sqlstore.Authorizations, &t.s.caches.authzs, t.Tx.GetAuthorization, id)
}

// GetCertificate returns the certificate with serial.
func (t *txn) GetCertificate(ctx context.Context, serial string) (*store.Certificate, error) {
	return getCached(ctx, t, sqlstore.Certificates, &t.s.caches.certs, t.Tx.GetCertificate, serial)
}

// GetAttestPolicy returns the rule of model. A model without one is cached
// too: the ACME server asks on every new order and finalize, and most
// models have none.
func (t *txn) GetAttestPolicy(ctx context.Context, model string) (*store.AttestPolicy, error) {
	p, err := getCached(ctx, t, sqlstore.AttestPolicies, &t.s.caches.policies, t.attestPolicyOrNil, model)
	if err == nil && p == nil {
		err = fmt.Errorf("get attestation rule of model %q: %w", model, store.ErrNotFound)
	}
	return p, err
}

// attestPolicyOrNil is the stored rule of model, or nil for none.
func (t *txn) attestPolicyOrNil(ctx context.Context, model string) (*store.AttestPolicy, error) {
	p, err := t.Tx.GetAttestPolicy(ctx, model)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return p, err
}

// effect is what the write of c does to the caches once committed: it
// puts the row it created, drops the row it changed, or, for changes to
// any number of rows, empties the cache of their kind. nil is nothing.
func effect(c sqlstore.Change) func(*caches) {
	switch c.Kind {
	case sqlstore.Accounts:
		return effectOn(c, func(cs *caches) *rowCache[*store.Account] { return &cs.accounts }, storedAccount)
	case sqlstore.Devices:
		return effectOn(c, func(cs *caches) *rowCache[*store.Device] { return &cs.devices }, storedDevice)
	case sqlstore.Orders:
		return effectOn(c, func(cs *caches) *rowCache[*store.Order] { return &cs.orders }, storedOrder)
	case sqlstore.Authorizations:
		return effectOn(c, func(cs *caches) *rowCache[*store.Authorization] { return &cs.authzs }, storedAuthorization)
	case sqlstore.Certificates:
		return effectOn(c, func(cs *caches) *rowCache[*store.Certificate] { return &cs.certs }, storedCertificate)
	case sqlstore.AttestPolicies:
		return effectOn(c, func(cs *caches) *rowCache[*store.AttestPolicy] { return &cs.policies }, clonePolicy)
	}
	return nil
}

// effectOn is effect on the cache pick returns; stored makes a created
// row's cached form, or returns nil where it cannot.
func effectOn[T comparable](c sqlstore.Change, pick func(*caches) *rowCache[T], stored func(T) T) func(*caches) {
	var zero T
	switch {
	case c.Row != nil:
		v := stored(c.Row.(T))
		if v == zero {
			return nil
		}
		return func(cs *caches) { pick(cs).created(c.Key, v) }
	case c.Key != "":
		return func(cs *caches) { pick(cs).drop(c.Key) }
	}
	return func(cs *caches) { pick(cs).reset() }
}

// applyEffects runs what a committed write recorded.
func (s *Store) applyEffects(fx []func(c *caches)) {
	for _, fn := range fx {
		fn(s.caches)
	}
}

// checkExternal resets the caches if another connection committed since
// the last check. It runs on the writer goroutine, between transactions.
func (s *Store) checkExternal(ctx context.Context) {
	s.syncCaches(s.sp[readDataVersion].QueryRowContext(ctx))
}

// syncCaches resets the caches if data_version, as read by r, says that
// another connection committed since the last check, and reports whether
// it could tell.
func (s *Store) syncCaches(r *sql.Row) bool {
	var v int64
	if err := r.Scan(&v); err != nil {
		// Cannot tell: assume the worst.
		s.caches.reset()
		return false
	}
	if s.caches.dataVersion.Swap(v) != v {
		s.caches.reset()
	}
	return true
}

// beginBatch brings the caches up to date for the write transaction tx,
// just begun, and returns the record of what its writes touch, or nil if
// the caches cannot be trusted inside it.
func (s *Store) beginBatch(tx *sql.Tx) *inBatch {
	s.stmts.Add(1)
	if !s.syncCaches(tx.Stmt(s.sp[readDataVersion]).QueryRow()) {
		return nil
	}
	return &inBatch{}
}

// inBatch records which cached rows the writes of one write transaction
// have touched so far, successful or not: the caches are exact inside it
// for every other row (see the top of this file).
type inBatch struct {
	rows  map[rowKey]struct{}
	kinds map[sqlstore.Kind]bool // changed in bulk
}

type rowKey struct {
	kind sqlstore.Kind
	key  string
}

// touch records a write of c. A nil b records nothing.
func (b *inBatch) touch(c sqlstore.Change) {
	switch {
	case b == nil || c.Kind == sqlstore.NoKind:
	case c.Key == "":
		if b.kinds == nil {
			b.kinds = map[sqlstore.Kind]bool{}
		}
		b.kinds[c.Kind] = true
	default:
		if b.rows == nil {
			b.rows = map[rowKey]struct{}{}
		}
		b.rows[rowKey{c.Kind, c.Key}] = struct{}{}
	}
}

// untouched reports whether the row of kind with key may be read from the
// cache: b is set and no write recorded in it touched the row.
func (b *inBatch) untouched(kind sqlstore.Kind, key string) bool {
	if b == nil || b.kinds[kind] {
		return false
	}
	_, touched := b.rows[rowKey{kind, key}]
	return !touched
}

// The stored forms of rows just written: copies that equal what reading
// them back returns (times in UTC to the microsecond, challenges through
// their JSON), so that a cached row is the row read.

func storedDevice(d *store.Device) *store.Device {
	c := cloneDevice(d)
	c.CreatedAt, c.RevokedAt = truncate(d.CreatedAt), truncate(d.RevokedAt)
	return c
}

func storedAccount(a *store.Account) *store.Account {
	c := cloneAccount(a)
	c.CreatedAt = truncate(a.CreatedAt)
	return c
}

// storedOrder returns nil for an order with a problem, which is not cached
// as written: its JSON form may read back different.
func storedOrder(o *store.Order) *store.Order {
	if o.Error != nil {
		return nil
	}
	c := cloneOrder(o)
	c.Expires, c.CreatedAt = truncate(o.Expires), truncate(o.CreatedAt)
	return c
}

// storedAuthorization returns nil for challenges that do not go through
// JSON, which never happens to a row just written.
func storedAuthorization(a *store.Authorization) *store.Authorization {
	c := *a
	c.Expires = truncate(a.Expires)
	text, err := sqlstore.MarshalChallenges(a.Challenges)
	if err == nil {
		c.Challenges, err = sqlstore.DecodeChallenges(text)
	}
	if err != nil {
		return nil
	}
	return &c
}

func storedCertificate(x *store.Certificate) *store.Certificate {
	c := cloneCertificate(x)
	c.NotBefore, c.NotAfter = truncate(x.NotBefore), truncate(x.NotAfter)
	c.CreatedAt, c.RevokedAt = truncate(x.CreatedAt), truncate(x.RevokedAt)
	return c
}

var truncate = sqlstore.Truncate
