package testwait

import (
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	var n atomic.Int32
	if !Until(5*time.Second, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("Until gave up on a condition that came true")
	}
	if n.Load() != 3 {
		t.Errorf("checked %d times, want 3", n.Load())
	}
	start := time.Now()
	if Until(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("Until reported a condition that never held")
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > time.Second {
		t.Errorf("Until gave up after %s, want about 20ms", d)
	}
}

func TestBufferWaitCount(t *testing.T) {
	var b Buffer
	go func() {
		for range 3 {
			b.Write([]byte("tick\n"))
		}
	}()
	if out := b.WaitCount(t, 5*time.Second, "tick", 3); strings.Count(out, "tick") < 3 {
		t.Errorf("WaitCount returned %q, want the three lines", out)
	}
}

func TestBufferMatch(t *testing.T) {
	var b Buffer
	re := regexp.MustCompile(`code ([A-Z]{4})`)
	go b.Write([]byte("your code WDJB\n"))
	if m := b.Match(5*time.Second, re, nil); m == nil || m[1] != "WDJB" {
		t.Errorf("Match = %q, want the code", m)
	}
	done := make(chan struct{})
	close(done)
	start := time.Now()
	if m := b.Match(5*time.Second, regexp.MustCompile("never"), done); m != nil || time.Since(start) > time.Second {
		t.Errorf("Match after the writer is done = %q after %s, want nil at once", m, time.Since(start))
	}
}
