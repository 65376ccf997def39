package acme_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/ratelimit"
)

// TestRateLimits drives each limit through the handler: the request past
// the limit is rateLimited with a Retry-After that, once waited, lets the
// next one through; requests under the limit never notice it.
func TestRateLimits(t *testing.T) {
	limits := ratelimit.Limits{
		OrdersPerAccount:        ratelimit.Limit{Name: "orders-per-account", Count: 2, Period: time.Minute},
		CertificatesPerDevice:   ratelimit.Limit{Name: "certificates-per-device", Count: 1, Period: 10 * time.Minute},
		AccountsPerSource:       ratelimit.Limit{Name: "accounts-per-source", Count: 3, Period: time.Hour},
		FailedPairingsPerSource: ratelimit.Limit{Name: "failed-pairings-per-source", Count: 3, Period: time.Hour},
	}
	h := newHarness(t, func(c *acme.Config) { c.Limits = limits })

	t.Run("orders per account", func(t *testing.T) {
		dev := h.newDevice("")
		c := h.account(dev)
		payload := map[string]any{"identifiers": dnsIDs(dev.name(""))}
		for range limits.OrdersPerAccount.Count {
			h.newOrder(c, payload)
		}
		res, err := c.Post(h.ctx, c.Dir.NewOrder, payload)
		if err != nil {
			t.Fatal(err)
		}
		retry := checkRateLimited(t, res)
		// Another account is not affected.
		other := h.newDevice("")
		h.newOrder(h.account(other), map[string]any{"identifiers": dnsIDs(other.name(""))})
		h.clock.Advance(retry)
		h.newOrder(c, payload)
	})

	t.Run("certificates per device", func(t *testing.T) {
		dev := h.newDevice("")
		c := h.account(dev)
		h.issue(c, dev.name(""))
		o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""))})
		res, err := c.Post(h.ctx, o.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), dev.name("")))})
		if err != nil {
			t.Fatal(err)
		}
		retry := checkRateLimited(t, res)
		// The order stays ready: once the limit allows, it finalizes.
		h.clock.Advance(retry)
		h.finalize(c, o, newKey(t))
	})

	t.Run("failed pairings per source", func(t *testing.T) {
		wrongKey := []byte("a wrong EAB key of thirty-two by")
		for range limits.FailedPairingsPerSource.Count {
			dev := h.newDevice("")
			r, err := h.client(nil).Register(h.ctx, dev.eabKID, wrongKey)
			if err != nil {
				t.Fatal(err)
			}
			if p := r.Problem(); r.Status != http.StatusUnauthorized || p == nil || p.Type != "urn:ietf:params:acme:error:unauthorized" {
				t.Fatalf("register with a wrong EAB key: %v", r)
			}
		}
		dev := h.newDevice("")
		r, err := h.client(nil).Register(h.ctx, dev.eabKID, wrongKey)
		if err != nil {
			t.Fatal(err)
		}
		checkRateLimited(t, r)
		// Past the limit even the right key is refused, so that guessing
		// until one works gains nothing; the refusal spends nothing.
		r, err = h.client(nil).Register(h.ctx, dev.eabKID, dev.eabKey)
		if err != nil {
			t.Fatal(err)
		}
		retry := checkRateLimited(t, r)
		h.clock.Advance(retry)
		if r, err := h.client(nil).Register(h.ctx, dev.eabKID, dev.eabKey); err != nil || r.Status != http.StatusCreated {
			t.Fatalf("register after Retry-After: %v %v", r, err)
		}
	})

	t.Run("accounts per source", func(t *testing.T) {
		// Every test client comes from 127.0.0.1, and earlier subtests made
		// accounts too, so register until the limit says no.
		for i := 0; i <= limits.AccountsPerSource.Count; i++ {
			dev := h.newDevice("")
			r, err := h.client(nil).Register(h.ctx, dev.eabKID, dev.eabKey)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == http.StatusTooManyRequests {
				retry := checkRateLimited(t, r)
				// The EAB key was not spent: after the wait it registers.
				h.clock.Advance(retry)
				if r2, err := h.client(nil).Register(h.ctx, dev.eabKID, dev.eabKey); err != nil || r2.Status != http.StatusCreated {
					t.Fatalf("register after Retry-After: %v %v", r2, err)
				}
				return
			}
			if r.Status != http.StatusCreated {
				t.Fatalf("register %d: %v", i, r)
			}
		}
		t.Fatalf("%d registrations from one source were all allowed; limit is %d", limits.AccountsPerSource.Count+1, limits.AccountsPerSource.Count)
	})

	if got := h.counter("lantls_acme_problems_total", "type", "rateLimited"); got < 5 {
		t.Errorf("rateLimited problems counted = %v, want at least 5", got)
	}
}

// checkRateLimited checks that res is a rateLimited problem with status 429
// and a Retry-After, and returns the wait.
func checkRateLimited(t *testing.T, res *acmetest.Response) time.Duration {
	t.Helper()
	p := res.Problem()
	if res.Status != http.StatusTooManyRequests || p == nil || p.Type != "urn:ietf:params:acme:error:rateLimited" {
		t.Fatalf("got %d %+v, want 429 rateLimited", res.Status, p)
	}
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After = %q, want a positive number of seconds", res.Header.Get("Retry-After"))
	}
	return time.Duration(secs) * time.Second
}

// TestOpenOrdersCap checks that abandoned orders cannot pile up: past the
// cap newOrder is refused until one is finalized or expires.
func TestOpenOrdersCap(t *testing.T) {
	h := newHarness(t, func(c *acme.Config) { c.Limits.OpenOrdersPerAccount = 2 })
	dev := h.newDevice("")
	c := h.account(dev)
	payload := map[string]any{"identifiers": dnsIDs(dev.name(""))}
	first := h.newOrder(c, payload)
	h.clock.Advance(30 * time.Minute)
	h.newOrder(c, payload)
	res, err := c.Post(h.ctx, c.Dir.NewOrder, payload)
	if err != nil {
		t.Fatal(err)
	}
	// Retry-After is true: the first order expires 23.5 hours from now.
	if wait := checkRateLimited(t, res); wait != 23*time.Hour+30*time.Minute {
		t.Errorf("Retry-After %s, want 23h30m0s, when the first open order expires", wait)
	}
	// Finalizing one frees its place.
	h.finalize(c, first, newKey(t))
	h.newOrder(c, payload)
	if res, _ := c.Post(h.ctx, c.Dir.NewOrder, payload); res.Status != http.StatusTooManyRequests {
		t.Fatalf("fourth order with two open: %v, want 429", res)
	}
	// Expired orders do not count.
	h.clock.Advance(25 * time.Hour)
	c.Nonce(h.ctx) // drop the nonce that expired with the orders
	h.newOrder(c, payload)
}
