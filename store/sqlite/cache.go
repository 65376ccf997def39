package sqlite

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lantls/lantls/store"
)

// The row cache: accounts and devices read outside transactions, which the
// ACME server does on nearly every request (the account of each JWS, the
// device of each order and finalize), are kept in memory. A reader
// connection's page cache is dropped at the start of every read that
// follows a commit, so under load each of those reads walked its B-tree
// from disk pages again; the cache removes six of the fifteen reads of an
// issuance.
//
// It stays exact for this process and close behind other processes:
//   - a write transaction that changed an account or device (UpdateAccount,
//     UpdateDevice) empties the cache after it commits;
//   - a write by another process (lantls admin on the same data dir) is
//     seen by the writer, which asks SQLite every externalCheckInterval
//     whether another connection committed (PRAGMA data_version, which
//     on the writer connection changes only then), and empties the cache;
//   - a read that raced with either puts nothing: a value is kept only if
//     the cache was not emptied between the read's start and its end.
//
// So a device revoked with the CLI is refused by a running issuer within
// externalCheckInterval. Transactions (Update) never use the cache.

// maxCachedRows bounds each cache; when full it is emptied, which is rare
// and cheap.
const maxCachedRows = 100_000

// rowCache is a cache of one kind of row by ID.
type rowCache[T any] struct {
	clone func(T) T // copies a row so that callers may change theirs
	mu    sync.Mutex
	gen   uint64 // counts resets
	rows  map[string]T
}

// get returns a copy of the cached row with id, if any, and the
// generation a read that misses must hand to put.
func (c *rowCache[T]) get(id string) (v T, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok = c.rows[id]
	if ok {
		v = c.clone(v)
	}
	return v, c.gen, ok
}

// put keeps a copy of v, read after get returned gen, unless the cache was
// reset since.
func (c *rowCache[T]) put(id string, v T, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.rows == nil || len(c.rows) >= maxCachedRows {
		c.rows = make(map[string]T)
	}
	c.rows[id] = c.clone(v)
}

// reset empties the cache and fails every read in flight to put.
func (c *rowCache[T]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.rows)
}

// caches are the row caches of a Store.
type caches struct {
	accounts rowCache[*store.Account]
	devices  rowCache[*store.Device]
	// stale is set by a write that changed a cached kind of row; the
	// writer resets the caches after the commit.
	stale atomic.Bool
	// dataVersion is the writer connection's last PRAGMA data_version.
	dataVersion int64
}

func newCaches() *caches {
	return &caches{
		accounts: rowCache[*store.Account]{clone: func(a *store.Account) *store.Account {
			c := *a
			c.KeyJWK, c.Contact = slices.Clone(a.KeyJWK), slices.Clone(a.Contact)
			return &c
		}},
		devices: rowCache[*store.Device]{clone: func(d *store.Device) *store.Device {
			c := *d
			return &c
		}},
	}
}

func (c *caches) reset() {
	c.accounts.reset()
	c.devices.reset()
}

// committed is called by the writer after each commit.
func (c *caches) committed() {
	if c.stale.Swap(false) {
		c.reset()
	}
}

// cached reads the row with id through c, or through read on a miss.
func cached[T any](c *rowCache[T], id string, read func() (T, error)) (T, error) {
	v, gen, ok := c.get(id)
	if ok {
		return v, nil
	}
	v, err := read()
	if err == nil {
		c.put(id, v, gen)
	}
	return v, err
}

// checkExternal resets the caches if another connection committed since
// the last check. It runs on the writer goroutine, between transactions.
func (s *Store) checkExternal(ctx context.Context) {
	var v int64
	if err := s.w.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		// Cannot tell: assume the worst.
		s.caches.reset()
		return
	}
	if v != s.caches.dataVersion {
		s.caches.dataVersion = v
		s.caches.reset()
	}
}
