//go:build unix

package acme_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store/postgres"
	"github.com/lantls/lantls/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// maxRoundTrips is what one issuance (two names, the default rate
// limits) may cost in round trips to PostgreSQL, from newNonce to the
// certificate's download, once every statement is prepared on the
// connection: see TestPostgresRoundTrips. It was 54 before a
// transaction's BEGIN went with its first statement, an order's rows went
// in one batch, finalize read the device once and a rate limit's row was
// created, locked and read in one statement; 44 before a rate limit's new
// time and the audit entry went with the transaction's next statement or
// its COMMIT; 40 before the reads of a request were read ahead
// (store.ReadAhead, store.Expect) with the account of its JWS or with
// its EAB key; 28 before a transaction's rate limits (and newOrder's
// open-order count) went with its first read (store.ExpectLimits,
// store.ExpectOpenOrders): newAccount 7, newOrder 5, two authorizations
// 4, finalize 6, certificate 2.
const maxRoundTrips = 24

// TestPostgresRoundTrips runs issuances through the ACME server on a real
// PostgreSQL and fails when one makes more round trips to the database
// than maxRoundTrips: each is a wait on the network and a wake-up of a
// backend, and under load they, not the statements, bound an instance.
func TestPostgresRoundTrips(t *testing.T) {
	ctx := context.Background()
	// Two connections: every statement is prepared on both by the warm-up
	// issuances, so the measured one counts no prepares.
	st, err := postgres.Open(ctx, pgtest.URL(t)+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The issuer's rate limits, as a real issuance pays for them.
	h := newHarnessOn(t, st, func(c *acme.Config) { c.Limits = ratelimit.Defaults })

	issue := func(log bool) int64 {
		dev := h.newDevice("")
		c := h.client(nil)
		steps := []struct {
			name string
			do   func() error
		}{
			{"newNonce", func() error { _, err := c.Nonce(ctx); return err }},
			{"newAccount (EAB)", func() error {
				res, err := c.Register(ctx, dev.eabKID, dev.eabKey)
				if err == nil && res.Status != http.StatusCreated {
					t.Fatalf("register: %v", res)
				}
				return err
			}},
		}
		var o, done *order
		steps = append(steps,
			struct {
				name string
				do   func() error
			}{"newOrder", func() (err error) {
				o, err = h.tryNewOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""), "*."+dev.name(""))})
				return err
			}},
			struct {
				name string
				do   func() error
			}{"authorizations", func() error {
				for _, u := range o.Authorizations {
					res, err := c.Post(ctx, u, nil)
					if err != nil {
						return err
					}
					if res.Status != http.StatusOK {
						t.Fatalf("authorization: %v", res)
					}
				}
				return nil
			}},
			struct {
				name string
				do   func() error
			}{"finalize", func() (err error) {
				done, err = h.tryFinalize(c, o, newKey(t))
				return err
			}},
			struct {
				name string
				do   func() error
			}{"certificate", func() error {
				_, err := h.tryDownload(c, done.Certificate)
				return err
			}},
		)
		var total int64
		for _, s := range steps {
			before, stmts := st.RoundTrips(), st.Statements()
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			n := st.RoundTrips() - before
			total += n
			if log {
				t.Logf("%-17s %d round trips, %d statements", s.name, n, st.Statements()-stmts)
			}
		}
		return total
	}
	for range 3 {
		issue(false)
	}
	if n := issue(true); n > maxRoundTrips {
		t.Errorf("one issuance made %d round trips to PostgreSQL, want at most %d", n, maxRoundTrips)
	} else {
		t.Logf("one issuance: %d round trips", n)
	}
}
