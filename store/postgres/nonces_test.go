package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/postgres/pgtest"
)

// Concurrent spends on two stores (two instances) go in batches, a
// statement for many, and each nonce is spent exactly once: spent on one
// instance, or twice in one batch, it is ErrConflict for every caller but
// the first.
func TestNonceSpendsBatch(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	exp := time.Now().Add(time.Hour)
	const nonces, callers = 100, 4 // four callers per nonce, two on each instance
	start := make(chan struct{})
	var wg sync.WaitGroup
	fresh := make([]int, nonces)
	var mu sync.Mutex
	before := a.RoundTrips() + b.RoundTrips()
	for i := range nonces {
		for c := range callers {
			s := a
			if c%2 == 1 {
				s = b
			}
			wg.Go(func() {
				<-start
				err := s.ConsumeNonce(ctx, fmt.Sprintf("batch-%d", i), exp)
				switch {
				case err == nil:
					mu.Lock()
					fresh[i]++
					mu.Unlock()
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("ConsumeNonce: %v", err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for i, n := range fresh {
		if n != 1 {
			t.Errorf("nonce %d was fresh for %d of its %d callers, want 1", i, n, callers)
		}
	}
	// Every goroutine was waiting before the first spend: the batcher of
	// each store needs a statement for its first caller and at most a few
	// for the rest.
	if n := a.RoundTrips() + b.RoundTrips() - before; n > nonces*callers/4 {
		t.Errorf("%d spends took %d round trips, want at most %d", nonces*callers, n, nonces*callers/4)
	} else {
		t.Logf("%d spends in %d round trips", nonces*callers, n)
	}
	if err := a.ConsumeNonce(ctx, "batch-0", exp); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ConsumeNonce of a spent nonce, alone = %v, want ErrConflict", err)
	}
}
