package acme_test

import (
	"context"
	"net/http"
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

	issue := func(log bool) (stmts, commits int64) {
		dev := h.newDevice("")
		c := h.client(nil)
		var o, done *order
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
			{"newOrder", func() (err error) {
				o, err = h.tryNewOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""), "*."+dev.name(""))})
				return err
			}},
			{"authorizations", func() error {
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
			{"finalize", func() (err error) {
				done, err = h.tryFinalize(c, o, newKey(t))
				return err
			}},
			{"certificate", func() error {
				_, err := h.tryDownload(c, done.Certificate)
				return err
			}},
		}
		for _, s := range steps {
			s0, c0 := st.Statements(), st.Commits()
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			ns, nc := st.Statements()-s0, st.Commits()-c0
			stmts += ns
			commits += nc
			if log {
				t.Logf("%-17s %d statements, %d commits", s.name, ns, nc)
			}
		}
		return stmts, commits
	}
	for range 3 {
		issue(false)
	}
	stmts, commits := issue(true)
	t.Logf("one issuance: %d statements, %d commits", stmts, commits)
	if stmts > maxSQLiteStatements {
		t.Errorf("one issuance ran %d statements on SQLite, want at most %d", stmts, maxSQLiteStatements)
	}
	if commits > maxSQLiteCommits {
		t.Errorf("one issuance committed %d write transactions on SQLite, want at most %d", commits, maxSQLiteCommits)
	}
}
