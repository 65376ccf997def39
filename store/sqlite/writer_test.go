package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// queued is a write as update queues it, with its caller following it on
// another goroutine.
type queued struct {
	*write
	result chan error // fn's result, or errPanicked
}

var errPanicked = errors.New("fn panicked")

func queue(s *Store, ctx context.Context, fn func(t *txn) error) queued {
	q := queued{newWrite(ctx), make(chan error, 1)}
	go func() {
		defer func() {
			if recover() != nil {
				q.result <- errPanicked
			}
		}()
		q.result <- q.follow(s, fn)
	}()
	return q
}

// consume returns a write fn that consumes nonce, then returns err.
func consume(nonce string, err error) func(t *txn) error {
	return func(t *txn) error {
		if e := t.ConsumeNonce(context.Background(), nonce, time.Now()); e != nil {
			return e
		}
		return err
	}
}

// nonceUsed reports whether nonce was stored.
func nonceUsed(t *testing.T, s *Store, nonce string) bool {
	t.Helper()
	err := s.ConsumeNonce(t.Context(), nonce, time.Now())
	if err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatalf("ConsumeNonce: %v", err)
	}
	return err != nil
}

func TestBatchIsolatesWrites(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx := t.Context()
	errStop := errors.New("stop")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	batch := []queued{
		queue(s, ctx, consume("a", nil)),
		queue(s, ctx, consume("b", errStop)),
		queue(s, ctx, consume("a", nil)), // a conflict with the first
		queue(s, ctx, func(t *txn) error {
			consume("c", nil)(t)
			panic("boom")
		}),
		queue(s, cancelled, consume("d", nil)),
		queue(s, ctx, consume("e", nil)),
		queueOwn(ctx, consume("f", nil)),
		queueOwn(ctx, consume("e", nil)),
		queueOwn(ctx, func(t *txn) error {
			consume("g", nil)(t)
			panic("boom")
		}),
	}
	run(s, batch)
	want := []error{nil, errStop, store.ErrConflict, errPanicked, context.Canceled, nil, nil, store.ErrConflict, errPanicked}
	checkResults(t, batch, want)
	for nonce, want := range map[string]bool{"a": true, "b": false, "c": false, "d": false, "e": true, "f": true, "g": false} {
		if got := nonceUsed(t, s, nonce); got != want {
			t.Errorf("nonce %s stored = %v, want %v", nonce, got, want)
		}
	}
}

func TestBrokenBatchRunsWritesAlone(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx := t.Context()
	errStop := errors.New("stop")
	runs := 0
	batch := []queued{
		queue(s, ctx, consume("a", nil)),
		queue(s, ctx, consume("b", errStop)),
		queue(s, ctx, func(t *txn) error {
			panic("boom")
		}),
		// Ends the shared transaction behind the writer's back, as SQLite
		// does after some I/O errors, but only the first time.
		queue(s, ctx, func(t *txn) error {
			runs++
			if runs == 1 {
				_, err := t.tx.Exec("ROLLBACK")
				return err
			}
			return consume("c", nil)(t)
		}),
		queue(s, ctx, consume("d", nil)),
	}
	run(s, batch)
	checkResults(t, batch, []error{nil, errStop, errPanicked, nil, nil})
	if runs != 2 {
		t.Errorf("the breaking write ran %d times, want 2", runs)
	}
	for nonce, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := nonceUsed(t, s, nonce); got != want {
			t.Errorf("nonce %s stored = %v, want %v", nonce, got, want)
		}
	}
}

// queueOwn is queue for a write the writer runs itself.
func queueOwn(ctx context.Context, fn func(t *txn) error) queued {
	q := queued{newWrite(ctx), make(chan error, 1)}
	q.own = fn
	go func() {
		defer func() {
			if recover() != nil {
				q.result <- errPanicked
			}
		}()
		q.result <- q.await()
	}()
	return q
}

// run has the writer run batch as one group.
func run(s *Store, batch []queued) {
	ws := make([]*write, len(batch))
	for i, q := range batch {
		ws[i] = q.write
	}
	s.runBatch(ws)
}

func checkResults(t *testing.T, batch []queued, want []error) {
	t.Helper()
	for i, q := range batch {
		select {
		case err := <-q.result:
			if !errors.Is(err, want[i]) || (want[i] == nil && err != nil) {
				t.Errorf("write %d = %v, want %v", i, err, want[i])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("write %d got no result", i)
		}
	}
}

func TestCloseEndsWrites(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.ConsumeNonce(t.Context(), "n", time.Now()); !errors.Is(err, errClosed) {
		t.Errorf("ConsumeNonce after Close = %v, want errClosed", err)
	}
}

func TestCancelledWriteIsNotRun(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx store.Tx) error {
		ran = true
		return nil
	})
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("Update with a cancelled context = %v (ran %v), want context.Canceled without running", err, ran)
	}
}

func TestGoexitInUpdate(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "lantls.db"))
	ctx := t.Context()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		s.Update(ctx, func(tx store.Tx) error {
			if err := tx.ConsumeNonce(ctx, "n", time.Now()); err != nil {
				return err
			}
			runtime.Goexit() // what t.Fatal does
			return nil
		})
	}()
	<-exited
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.ConsumeNonce(ctx, "n", time.Now()); err != nil {
		t.Errorf("ConsumeNonce after an Update whose fn exited: %v", err)
	}
}
