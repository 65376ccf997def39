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
		if len(id) != 26 {
			t.Fatalf("NewID = %q, want 26 characters", id)
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
	// 48 bits of time are the first 9 characters and 3 bits of the tenth.
	if a, b := store.NewID(t0), store.NewID(t0); a == b || a[:9] != b[:9] {
		t.Errorf("two IDs of one millisecond: %q %q, want the same time prefix and different random parts", a, b)
	}
}
