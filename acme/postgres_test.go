//go:build unix

package acme_test

import (
	"context"
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

	counters := []counter{{"round trips", st.RoundTrips}, {"statements", st.Statements}}
	for range 3 {
		countIssuance(t, h, false, counters...)
	}
	if n := countIssuance(t, h, true, counters...)[0]; n > maxRoundTrips {
		t.Errorf("one issuance made %d round trips to PostgreSQL, want at most %d", n, maxRoundTrips)
	} else {
		t.Logf("one issuance: %d round trips", n)
	}
}
