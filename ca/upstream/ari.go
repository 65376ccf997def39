package upstream

import (
	"sync"
	"time"
)

// ARI answers of the upstream CA are kept until their Retry-After (RFC
// 9773 section 4.3): renewalInfo is an unauthenticated GET on the issuer,
// and without a cache every such GET was a request to the upstream CA.
const (
	// ariDefaultTTL is how long an answer without Retry-After is kept.
	ariDefaultTTL = time.Hour
	// ariMinTTL and ariMaxTTL bound a Retry-After: a CA that asks for
	// none is not asked on every GET, and one that asks for days is still
	// asked daily, as RFC 9773 suggests clients do.
	ariMinTTL = time.Minute
	ariMaxTTL = 24 * time.Hour
	// ariMaxEntries bounds the cache; past it expired answers go, and if
	// none has, all of them.
	ariMaxEntries = 10000
)

// ariCache holds renewal windows by the certificate's ARI identifier.
type ariCache struct {
	mu sync.Mutex
	m  map[string]ariEntry
}

type ariEntry struct {
	start, end, until time.Time
}

func (c *ariCache) get(id string, now time.Time) (start, end time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || !now.Before(e.until) {
		return start, end, false
	}
	return e.start, e.end, true
}

// put keeps a window until retryAfter, bounded to [ariMinTTL, ariMaxTTL]
// from now; a zero retryAfter means ariDefaultTTL.
func (c *ariCache) put(id string, start, end, retryAfter, now time.Time) {
	ttl := ariDefaultTTL
	if !retryAfter.IsZero() {
		ttl = min(max(retryAfter.Sub(now), ariMinTTL), ariMaxTTL)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]ariEntry{}
	}
	if len(c.m) >= ariMaxEntries {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= ariMaxEntries {
			clear(c.m)
		}
	}
	c.m[id] = ariEntry{start: start, end: end, until: now.Add(ttl)}
}
