package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lantls/lantls/store"
)

// Bounds of the nonce batcher: how many spends one statement carries, and
// how many may wait at once (beyond that a caller waits for room, so a
// burst holds bounded memory).
const (
	maxNonceBatch  = 512
	maxNonceQueued = 8 * maxNonceBatch
)

// spendNonces records a batch of used nonces, each once: a nonce already
// stored (or twice in the batch) is not returned. ON CONFLICT DO NOTHING
// skips a row that conflicts with one inserted earlier by the same
// statement as with one committed before. The rows go in nonce order:
// two instances whose batches share nonces (a replayed JWS sent to both)
// then wait on their common keys in the same order, never on each other
// in a cycle, which PostgreSQL would end with a deadlock error for every
// caller of both batches.
const spendNonces = `INSERT INTO nonces (nonce, expires)
	SELECT * FROM unnest($1::text[], $2::bigint[]) AS spent(nonce, expires) ORDER BY nonce
	ON CONFLICT (nonce) DO NOTHING RETURNING nonce`

// nonceBatcher spends the nonces of concurrent requests together, in one
// statement and one commit (a group commit): each request's JWS spends a
// nonce (RFC 8555 section 6.5), most of them in requests that write
// nothing else, and one insert and one WAL flush each were the largest
// share of the database's commits. One batch is in flight at a time;
// spends that arrive meanwhile wait for it and go in the next, so a lone
// spend goes at once and a busy issuer makes few, larger commits. Each
// caller gets its own answer.
type nonceBatcher struct {
	pool  *pgxpool.Pool
	slots chan struct{} // one per spend queued or in flight

	mu       sync.Mutex
	pending  []*nonceSpend
	flushing bool // a goroutine is sending batches
}

// nonceSpend is one caller's nonce and the channel of its answer.
type nonceSpend struct {
	nonce   string
	expires int64 // unix microseconds, as sqlstore writes it
	done    chan error
}

func newNonceBatcher(pool *pgxpool.Pool) *nonceBatcher {
	return &nonceBatcher{pool: pool, slots: make(chan struct{}, maxNonceQueued)}
}

// spend records nonce as used until expires; a nonce used before is
// store.ErrConflict.
func (b *nonceBatcher) spend(ctx context.Context, nonce string, expires time.Time) error {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	w := &nonceSpend{nonce: nonce, expires: expires.UnixMicro(), done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, w)
	start := !b.flushing
	b.flushing = true
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The spend goes on without us: the nonce may end up used, which
		// is what a client that gave up on its request must expect.
		return ctx.Err()
	}
}

// run sends batches until none is pending.
func (b *nonceBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxNonceBatch)
		if n == 0 {
			b.flushing = false
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		if len(b.pending) == 0 {
			b.pending = nil
		}
		b.mu.Unlock()
		b.flush(batch)
	}
}

// flush spends batch in one statement and answers each of its callers.
func (b *nonceBatcher) flush(batch []*nonceSpend) {
	defer func() {
		for range batch {
			<-b.slots
		}
	}()
	nonces := make([]string, 0, len(batch))
	expires := make([]int64, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, w := range batch {
		if !seen[w.nonce] {
			seen[w.nonce] = true
			nonces = append(nonces, w.nonce)
			expires = append(expires, w.expires)
		}
	}
	fresh, err := b.insert(nonces, expires)
	for _, w := range batch {
		switch {
		case err != nil:
			w.done <- fmt.Errorf("consume nonce: %w", err)
		case fresh[w.nonce]:
			// The first of the batch's callers with this nonce has it.
			delete(fresh, w.nonce)
			w.done <- nil
		default:
			w.done <- fmt.Errorf("consume nonce: %w", store.ErrConflict)
		}
	}
}

// insert runs spendNonces and returns the nonces it stored.
func (b *nonceBatcher) insert(nonces []string, expires []int64) (map[string]bool, error) {
	// No caller's context: the batch serves several, and the statement
	// takes a fraction of a millisecond plus the commit.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := b.pool.Query(ctx, spendNonces, nonces, expires)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fresh := make(map[string]bool, len(nonces))
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		fresh[n] = true
	}
	return fresh, rows.Err()
}

// ConsumeNonce records a nonce as used until expires; a nonce used before
// is ErrConflict. Outside a transaction it goes through the batcher,
// with the spends of concurrent requests.
func (s *Store) ConsumeNonce(ctx context.Context, nonce string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.nonces.spend(ctx, nonce, expires)
}
