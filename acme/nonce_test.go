package acme

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store/sqlite"
)

// TestNonceSources runs the same checks against both ways of tracking
// nonces: in the store (any instance redeems) and in memory (one instance).
func TestNonceSources(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sources := map[string]func() nonceSource{
		"store": func() nonceSource { return newStoreNonces(key, st) },
		"local": func() nonceSource { return newLocalNonces(key, 128) },
	}
	for name, newSource := range sources {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			n := newSource()
			redeem := func(nonce string) error {
				ticket, err := n.check(nonce, now)
				if err != nil {
					return err
				}
				return n.spend(ctx, nonce, ticket)
			}
			wantBadNonce := func(what, nonce, detail string) {
				t.Helper()
				err := redeem(nonce)
				if !problem.Is(err, problem.BadNonce) || !strings.Contains(err.Error(), detail) {
					t.Errorf("%s: err = %v, want badNonce %q", what, err, detail)
				}
			}

			nonce := n.mint(now)
			if err := redeem(nonce); err != nil {
				t.Fatalf("fresh nonce: %v", err)
			}
			wantBadNonce("spent twice", nonce, "already been used")
			wantBadNonce("empty", "", "no nonce")
			wantBadNonce("garbled", "!!"+nonce, "not one of ours")
			forged := []byte(n.mint(now))
			forged[len(forged)/2] ^= 1
			wantBadNonce("forged", string(forged), "not one of ours")
			other := newLocalNonces([]byte("another key, another issuer....."), 128)
			wantBadNonce("another key", other.mint(now), "not one of ours")

			// Concurrent redemptions of one nonce: exactly one wins.
			nonce = n.mint(now)
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 8 {
				wg.Go(func() {
					if redeem(nonce) == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if wins != 1 {
				t.Errorf("concurrent redemptions of one nonce: %d succeeded, want 1", wins)
			}
		})
	}

	t.Run("local restart", func(t *testing.T) {
		before := newLocalNonces(key, 128)
		nonce := before.mint(time.Now())
		after := newLocalNonces(key, 128)
		after.mint(time.Now())
		if _, err := after.check(nonce, time.Now()); !problem.Is(err, problem.BadNonce) || !strings.Contains(err.Error(), "restarted") {
			t.Errorf("nonce from before a restart: err = %v, want badNonce", err)
		}
	})

	t.Run("local window", func(t *testing.T) {
		n := newLocalNonces(key, 128)
		old := n.mint(time.Now())
		for range 128 {
			n.mint(time.Now())
		}
		if _, err := n.check(old, time.Now()); !problem.Is(err, problem.BadNonce) || !strings.Contains(err.Error(), "expired") {
			t.Errorf("nonce a window old: err = %v, want badNonce expired", err)
		}
		// The newest window's worth are all still good, once each.
		var fresh []string
		for range 128 {
			fresh = append(fresh, n.mint(time.Now()))
		}
		for i, nonce := range fresh {
			ticket, err := n.check(nonce, time.Now())
			if err == nil {
				err = n.spend(context.Background(), nonce, ticket)
			}
			if err != nil {
				t.Fatalf("nonce %d of the last window: %v", i, err)
			}
		}
	})

	t.Run("store expiry", func(t *testing.T) {
		n := newStoreNonces(key, st)
		nonce := n.mint(time.Now())
		if _, err := n.check(nonce, time.Now().Add(nonceLifetime+time.Second)); !problem.Is(err, problem.BadNonce) {
			t.Errorf("nonce after its lifetime: err = %v, want badNonce", err)
		}
	})
}

func BenchmarkLocalNonces(b *testing.B) {
	n := newLocalNonces([]byte("0123456789abcdef0123456789abcdef"), localNonceWindow)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			nonce := n.mint(time.Time{})
			ticket, err := n.check(nonce, time.Time{})
			if err == nil {
				err = n.spend(ctx, nonce, ticket)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
