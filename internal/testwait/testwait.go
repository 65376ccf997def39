// Package testwait waits in tests for a condition instead of sleeping for
// a guessed time: the one wait helper of the module's tests.
package testwait

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Poll bounds the pause between two checks of a condition: checks start
// 1 ms apart and back off to Poll.
const Poll = 50 * time.Millisecond

// For checks cond until it holds, and fails t (with what it waited for)
// if it still does not hold after timeout. It returns at once when cond
// already holds.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Until checks cond until it holds or timeout passes, and reports whether
// it held: for callers that fail in their own words or try something
// else.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, Poll)
	}
	return true
}

// Buffer is an io.Writer that collects a process's or a logger's output
// while a test reads it (String) to wait for a line: safe for concurrent
// writes and reads. The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitCount waits until s occurs at least n times in what was written and
// returns everything written; it fails t, showing the output, if that
// takes longer than timeout.
func (b *Buffer) WaitCount(t testing.TB, timeout time.Duration, s string, n int) string {
	t.Helper()
	var out string
	if !Until(timeout, func() bool { out = b.String(); return strings.Count(out, s) >= n }) {
		t.Fatalf("timed out after %s waiting for %d of %q in the output:\n%s", timeout, n, s, out)
	}
	return out
}

// Wait is WaitCount for one occurrence of s.
func (b *Buffer) Wait(t testing.TB, timeout time.Duration, s string) string {
	t.Helper()
	return b.WaitCount(t, timeout, s, 1)
}

// Match waits until re matches what was written and returns the
// submatches, or nil when timeout passes or done (the writing process's
// exit; nil for none) comes first without a match: the caller says which.
func (b *Buffer) Match(timeout time.Duration, re *regexp.Regexp, done <-chan struct{}) []string {
	var m []string
	Until(timeout, func() bool {
		select {
		case <-done: // everything is written: one last look
			m = re.FindStringSubmatch(b.String())
			return true
		default:
		}
		m = re.FindStringSubmatch(b.String())
		return m != nil
	})
	return m
}
