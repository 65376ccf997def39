package acme_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store/sqlite"
)

// maxSQLiteStatements and maxSQLiteCommits are what one issuance (two
// names, the default rate limits) may cost on SQLite, from newNonce to the
// certificate's download: see TestSQLiteStatements. Each statement costs
// the issuer 6-19 µs of CPU through database/sql and modernc.org/sqlite,
// each commit about 25 µs (bench/results/issue-perf-2026-12-08.md). On
// 2026-12-08: newAccount 8 statements (3 reads of rate limits, account and
// EAB key, 3 writes, the writer's data_version read, ...), newOrder 7,
// finalize 7 (the short name read among them); one commit each.
const (
	maxSQLiteStatements = 22
	maxSQLiteCommits    = 3
)

// TestSQLiteStatements runs issuances through the ACME server on SQLite
// and fails when one runs more statements or commits more write
// transactions than the bounds above, so that neither grows back unseen.
func TestSQLiteStatements(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// As the issuer runs on a store of its own: the default rate limits,
	// spent nonces kept in the process (issuer.go).
	h := newHarnessOn(t, st, func(c *acme.Config) {
		c.Limits = ratelimit.Defaults
		c.LocalNonces = true
	})

	counters := []counter{{"statements", st.Statements}, {"commits", st.Commits}}
	for range 3 {
		countIssuance(t, h, false, counters...)
	}
	n := countIssuance(t, h, true, counters...)
	stmts, commits := n[0], n[1]
	t.Logf("one issuance: %d statements, %d commits", stmts, commits)
	if stmts > maxSQLiteStatements {
		t.Errorf("one issuance ran %d statements on SQLite, want at most %d", stmts, maxSQLiteStatements)
	}
	if commits > maxSQLiteCommits {
		t.Errorf("one issuance committed %d write transactions on SQLite, want at most %d", commits, maxSQLiteCommits)
	}
}
