package store

import (
	"context"
	"sync"
	"time"
)

// ReadAhead returns ctx marked so that a store may read, along with a
// row, the rows its caller reads next (a finalize reads an order, then its
// authorizations, its device, the device's short name and its model's
// attestation rule), all in one round trip, and answer those later reads
// made under ctx from what it read then. Each row read ahead is handed
// out once, and none after a write made under ctx: a read that follows
// the caller's own write sees it, and a row read twice is read again. A
// read answered so is as fresh as the read it came with, a moment
// earlier in the same request. A store with no round trips to save
// (store/sqlite) ignores it; reads inside Update never use it.
func ReadAhead(ctx context.Context) context.Context {
	return context.WithValue(ctx, aheadKey{}, &AheadRows{})
}

type aheadKey struct{}

// What a caller may say it reads next (Expect).
const (
	NextOrder         = "order"          // the order with the key
	NextFinalize      = "finalize"       // the order with the key and what finalize reads after it
	NextAuthorization = "authorization"  // the authorization with the key
	NextCertificate   = "certificate"    // the certificate with the serial
	NextAccountDevice = "account device" // the device of the account read first, and its model's rule
)

// Expect, under ReadAhead, says that the caller reads next the row next
// names with key, once it has read the row it reads first (the ACME
// server: the account of a request's JWS), so that a store may read it
// along with that one. Without ReadAhead it does nothing.
func Expect(ctx context.Context, next, key string) {
	if r := AheadOf(ctx); r != nil {
		r.mu.Lock()
		r.next, r.nextKey = next, key
		r.mu.Unlock()
	}
}

// AheadRows are the rows read ahead under one context, for store
// implementations. Its methods may be called on nil, which holds
// nothing.
type AheadRows struct {
	mu            sync.Mutex
	rows          map[aheadID]any
	next, nextKey string   // Expect's
	limits        []string // ExpectLimits'
	openAccount   string   // ExpectOpenOrders'
	openNow       time.Time
}

type aheadID struct{ kind, key string }

// AheadOf returns the rows read ahead under ctx, or nil when ctx is not
// marked by ReadAhead.
func AheadOf(ctx context.Context) *AheadRows {
	r, _ := ctx.Value(aheadKey{}).(*AheadRows)
	return r
}

// Keep holds row, the row of kind with key (nil: there is none), for one
// Take.
func (r *AheadRows) Keep(kind, key string, row any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rows == nil {
		r.rows = make(map[aheadID]any)
	}
	r.rows[aheadID{kind, key}] = row
}

// Take returns the row of kind with key and forgets it; ok is false when
// none was read ahead.
func (r *AheadRows) Take(kind, key string) (row any, ok bool) {
	if r == nil {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id := aheadID{kind, key}
	row, ok = r.rows[id]
	delete(r.rows, id)
	return row, ok
}

// ExpectLimits, under ReadAhead, says that the transaction of the next
// Update made under ctx reads the rate limits keys (and so, where reading
// a limit locks it, locks them) after its first statement: a store may
// read them with that statement. Empty keys are left out.
func ExpectLimits(ctx context.Context, keys ...string) {
	r := AheadOf(ctx)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if k != "" {
			r.limits = append(r.limits, k)
		}
	}
}

// ExpectOpenOrders, under ReadAhead, says that the transaction of the
// next Update made under ctx counts the open orders of accountID at now
// (CountOpenOrders) after its first statement: a store may count them
// with that statement.
func ExpectOpenOrders(ctx context.Context, accountID string, now time.Time) {
	if r := AheadOf(ctx); r != nil {
		r.mu.Lock()
		r.openAccount, r.openNow = accountID, now
		r.mu.Unlock()
	}
}

// ExpectedOpenOrders returns, once, what ExpectOpenOrders named;
// accountID is "" when it named nothing.
func (r *AheadRows) ExpectedOpenOrders() (accountID string, now time.Time) {
	if r == nil {
		return "", time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	accountID, now = r.openAccount, r.openNow
	r.openAccount, r.openNow = "", time.Time{}
	return accountID, now
}

// ExpectedLimits returns, once, the keys ExpectLimits named.
func (r *AheadRows) ExpectedLimits() []string {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := r.limits
	r.limits = nil
	return keys
}

// Expected returns, once, what the caller said it reads next (Expect):
// next is "" when it said nothing.
func (r *AheadRows) Expected() (next, key string) {
	if r == nil {
		return "", ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next, key = r.next, r.nextKey
	r.next, r.nextKey = "", ""
	return next, key
}

// Expecting reports whether the caller said what it reads next and no
// read has taken that yet.
func (r *AheadRows) Expecting() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next != ""
}

// Forget drops every row read ahead, for a write made under the context.
func (r *AheadRows) Forget() {
	if r == nil {
		return
	}
	r.mu.Lock()
	clear(r.rows)
	r.mu.Unlock()
}
