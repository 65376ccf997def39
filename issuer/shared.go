package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/postgres"
	"github.com/lantls/lantls/store/sqlite"
)

// OpenStore opens the store an issuer with data dir dataDir and store
// setting url uses: SQLite in dataDir/lantls.db when url is empty, else
// the PostgreSQL database at url (postgres:// or postgresql://).
func OpenStore(ctx context.Context, dataDir, url string) (store.Store, error) {
	switch {
	case url == "":
		return sqlite.Open(ctx, filepath.Join(dataDir, "lantls.db"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return postgres.Open(ctx, url)
	}
	return nil, errors.New("the store is not a postgres:// URL: leave it empty for SQLite in the data dir, or pass postgres://user:password@host:port/database")
}

// sharedStore is a store that several issuer instances use at once
// (store/postgres). What a single SQLite issuer may do at start-up or keep
// in memory, they must agree on through it.
type sharedStore interface {
	store.Store
	// Exclusive runs fn while no other instance runs an Exclusive fn of
	// the same name.
	Exclusive(ctx context.Context, name string, fn func() error) error
	// FailStaleProcessingOrders fails the orders processing since before
	// before.
	FailStaleProcessingOrders(ctx context.Context, before time.Time, p *problem.Error) (int, error)
}

// rootSecret names the store secret that holds the SHA-256 of the CA root
// every instance on a shared store must use.
const rootSecret = "ca-root-sha256"

// staleProcessing is how long an order may be processing before a live
// instance on a shared store fails it: the longest a metered signer may
// take (acme.MaxProcessing), plus a minute for clocks that disagree.
const staleProcessing = acme.MaxProcessing + time.Minute

// openSharedCA opens (or, on the first start of all, creates) the CA in
// dir while holding the store's lock, so that instances starting together
// on one CA directory create it once, and checks that its root is the one
// every other instance uses: the keys are shared as files, never through
// the database.
func openSharedCA(ctx context.Context, st sharedStore, dir string, opts local.Options) (*local.CA, error) {
	var c *local.CA
	err := st.Exclusive(ctx, "lantls-ca", func() error {
		var err error
		if c, err = local.Open(dir, opts); err != nil {
			return err
		}
		sum := sha256.Sum256(c.Root().Raw)
		mine := hex.EncodeToString(sum[:])
		agreed, err := st.Secret(ctx, rootSecret, []byte(mine))
		if err != nil {
			return err
		}
		if string(agreed) != mine {
			return fmt.Errorf("the CA in %s (root SHA-256 %s) is not the one the other issuers on this store use (root SHA-256 %s): copy the CA directory of the first issuer to every instance (--ca-dir)", dir, mine, agreed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// failStaleOrdersLoop fails, every period until ctx is done, the orders
// that have been processing for longer than staleProcessing: an instance
// that crashed while signing left them, and their clients would otherwise
// poll them until they expire. It never touches an order that a live
// instance may still be signing, so it is safe at any time, start-up
// included.
func (iss *Issuer) failStaleOrdersLoop(ctx context.Context, st sharedStore, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		before := iss.cfg.Now().Add(-staleProcessing)
		p := problem.ServerInternalErr("the issuer signing this order stopped; place a new order")
		if n, err := st.FailStaleProcessingOrders(ctx, before, p); err != nil {
			if ctx.Err() == nil {
				iss.cfg.Logger.Error("fail orders left processing", "err", err)
			}
		} else if n > 0 {
			iss.cfg.Logger.Warn("orders left processing by a stopped issuer made invalid", "orders", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
