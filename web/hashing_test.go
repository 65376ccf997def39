package web

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestHashingBounded: no more password hashes run at once than there are
// slots; the rest wait, one whose request ends stops waiting, and one that
// waits hashWait is told the issuer is busy. In a synctest bubble: the
// waits are exact and the 10 s of hashWait take no time.
func TestHashingBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{hashSlots: make(chan struct{}, 2)}
		var running, most atomic.Int32
		release := make(chan struct{})
		done := make(chan error, 6)
		for range 6 {
			go func() {
				done <- s.hashing(context.Background(), func() error {
					n := running.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					<-release
					running.Add(-1)
					return nil
				})
			}()
		}
		synctest.Wait() // two hash, four wait for a slot
		if n := running.Load(); n != 2 {
			t.Fatalf("%d hashes run while the others wait, want 2", n)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.hashing(ctx, func() error { t.Error("ran past a full set of slots"); return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("a request that ended while waiting: %v", err)
		}
		close(release)
		for range 6 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		if m := most.Load(); m != 2 {
			t.Errorf("%d hashes ran at once, want 2", m)
		}

		for range cap(s.hashSlots) {
			s.hashSlots <- struct{}{}
		}
		start := time.Now()
		err := s.hashing(context.Background(), func() error { t.Error("ran past a full set of slots"); return nil })
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusServiceUnavailable || time.Since(start) != hashWait {
			t.Errorf("a login that waited %s for a slot: %v, want 503 after %s", time.Since(start), err, hashWait)
		}
	})
}
