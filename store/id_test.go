package store_test

import (
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

func TestNewID(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := store.NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 32 {
			t.Fatalf("NewID = %q, want 32 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("NewID %q made after %q sorts before it", id, prev)
		}
		prev = id
	}
	if a, b := store.NewID(t0), store.NewID(t0); a == b || a[:12] != b[:12] {
		t.Errorf("two IDs of one millisecond: %q %q, want the same 12-digit time prefix and different random parts", a, b)
	}
}
