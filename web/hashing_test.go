package web

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestHashingBounded: no more password hashes run at once than there are
// slots; the rest wait, and one whose request ends stops waiting.
func TestHashingBounded(t *testing.T) {
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
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
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
}
