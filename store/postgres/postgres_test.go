package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/postgres"
	"github.com/lantls/lantls/store/postgres/pgtest"
	"github.com/lantls/lantls/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openEmpty(t)
	})
}

// openEmpty opens a store on a new, empty database.
func openEmpty(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// activeDevice adds an owner and their active device labelled l1, of
// model (empty for none), for a test to build on.
func activeDevice(t *testing.T, s *postgres.Store, model string) *store.Device {
	t.Helper()
	o, err := s.EnsureOwner(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Device{Label: "l1", OwnerID: o.ID, Model: model, Status: store.StatusActive}
	if err := s.CreateDevice(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Two stores on one database stand for two issuer instances: what one
// writes, the other reads at once, and a nonce is spent once across both.
func TestInstancesShareState(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	exp := time.Now().Add(time.Hour)
	if err := a.ConsumeNonce(ctx, "n1", exp); err != nil {
		t.Fatalf("ConsumeNonce on A: %v", err)
	}
	if err := b.ConsumeNonce(ctx, "n1", exp); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ConsumeNonce on B of a nonce spent on A = %v, want ErrConflict", err)
	}
	o, err := a.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatalf("EnsureOwner on A: %v", err)
	}
	got, err := b.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatalf("EnsureOwner on B: %v", err)
	}
	if got.ID != o.ID {
		t.Errorf("EnsureOwner on B = %q, want A's owner %q", got.ID, o.ID)
	}
	d := &store.Device{Label: "l1", OwnerID: o.ID, Status: store.StatusActive}
	if err := a.CreateDevice(ctx, d); err != nil {
		t.Fatalf("CreateDevice on A: %v", err)
	}
	if _, err := b.GetDevice(ctx, d.ID); err != nil {
		t.Fatalf("GetDevice on B: %v", err)
	}
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := a.UpdateDevice(ctx, d); err != nil {
		t.Fatalf("UpdateDevice on A: %v", err)
	}
	if got, err := b.GetDevice(ctx, d.ID); err != nil || got.Status != store.StatusRevoked {
		t.Errorf("GetDevice on B after A revoked it = %+v, %v; want revoked", got, err)
	}
}

// Rate-limit state taken in Update on two stores at once never loses an
// update: inside Update, LimitTAT locks the key's row (creating it first
// if missing), so each Update's read and write of a key act as one; and
// so it does when read ahead (store.ExpectLimits).
func TestRateLimitUpdatesSerialize(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	stores := []*postgres.Store{open(t, url), open(t, url)}
	const each = 20
	base := time.Unix(1_900_000_000, 0)
	var wg sync.WaitGroup
	for _, s := range stores {
		for g := range 2 {
			wg.Go(func() {
				for range each {
					ctx := ctx
					if g == 1 {
						// Read ahead with the transaction's first read.
						ctx = store.ReadAhead(ctx)
						store.ExpectLimits(ctx, "k")
					}
					err := s.Update(ctx, func(tx store.Tx) error {
						// Callers may hide the store's error behind their
						// own (the ACME server turns it into a problem);
						// should PostgreSQL refuse the transaction, Update
						// still knows to run fn again.
						tat, err := tx.LimitTAT(ctx, "k")
						if err != nil {
							return fmt.Errorf("opaque: %v", err)
						}
						if tat.IsZero() {
							tat = base
						}
						if err := tx.SetLimitTAT(ctx, "k", tat.Add(time.Second)); err != nil {
							return fmt.Errorf("opaque: %v", err)
						}
						return nil
					})
					if err != nil {
						t.Errorf("Update: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	tat, err := stores[0].LimitTAT(ctx, "k")
	if err != nil {
		t.Fatalf("LimitTAT: %v", err)
	}
	if want := base.Add(4 * each * time.Second); !tat.Equal(want) {
		t.Errorf("TAT after %d increments = %v, want %v", 4*each, tat, want)
	}
}

func TestFailStaleProcessingOrders(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.URL(t))
	d := activeDevice(t, s, "")
	a := &store.Account{DeviceID: d.ID, KeyThumbprint: "t", Status: store.StatusValid}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	newProcessing := func() *store.Order {
		t.Helper()
		ord := &store.Order{AccountID: a.ID, DeviceID: d.ID, Status: store.StatusReady, Expires: time.Now().Add(time.Hour)}
		if err := s.CreateOrder(ctx, ord, nil); err != nil {
			t.Fatal(err)
		}
		ord.Status = store.StatusProcessing
		if err := s.UpdateOrder(ctx, ord, store.StatusReady); err != nil {
			t.Fatal(err)
		}
		return ord
	}
	old := newProcessing()
	cutoff := time.Now()
	// The next order is processing since after cutoff.
	testwait.For(t, time.Second, "the clock to pass the cutoff", func() bool { return time.Now().UnixMicro() > cutoff.UnixMicro() })
	fresh := newProcessing()
	p := problem.ServerInternalErr("the instance signing this order stopped; place a new order")
	n, err := s.FailStaleProcessingOrders(ctx, cutoff, p)
	if err != nil || n != 1 {
		t.Fatalf("FailStaleProcessingOrders = %d, %v; want 1 order", n, err)
	}
	for _, c := range []struct {
		name string
		o    *store.Order
		want store.Status
	}{{"before", old, store.StatusInvalid}, {"after", fresh, store.StatusProcessing}} {
		got, err := s.GetOrder(ctx, c.o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != c.want {
			t.Errorf("order processing since %s the cutoff: status %s, want %s", c.name, got.Status, c.want)
		}
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:secret@[::1")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a broken URL = %v, want an error that does not repeat the password", err)
	}
}

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Exclusive on two stores of one database runs one fn at a time.
func TestExclusiveAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	stores := []*postgres.Store{open(t, url), open(t, url)}
	var (
		inside  atomic.Int32
		overlap atomic.Bool
		wg      sync.WaitGroup
	)
	for _, s := range stores {
		for range 3 {
			wg.Go(func() {
				err := s.Exclusive(t.Context(), "test-lock", func() error {
					if inside.Add(1) > 1 {
						overlap.Store(true)
					}
					// Holding the lock a while is the point: an fn that ran meanwhile would be seen.
					time.Sleep(20 * time.Millisecond)
					inside.Add(-1)
					return nil
				})
				if err != nil {
					t.Errorf("Exclusive: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if overlap.Load() {
		t.Error("two Exclusive fns of the same name ran at once")
	}
}

// A blind write inside Update (a rate limit's new time, an audit entry)
// costs no round trip of its own: it goes with the transaction's next
// statement, which sees it, or with the COMMIT. Its failure fails the
// transaction, and nothing of it is committed.
func TestBlindWritesGoWithTheNextStatement(t *testing.T) {
	ctx := t.Context()
	s := openEmpty(t)
	at := time.Unix(1_900_000_000, 0).UTC()
	before := s.RoundTrips()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetLimitTAT(ctx, "a", at); err != nil {
			return err
		}
		if err := tx.AddAudit(ctx, &store.AuditEntry{ID: "audit-1", OwnerID: "o", Action: "x"}); err != nil {
			return err
		}
		if n := s.RoundTrips() - before; n != 0 {
			t.Errorf("two blind writes made %d round trips before the next statement, want 0", n)
		}
		got, err := tx.LimitTAT(ctx, "a")
		if err != nil || !got.Equal(at) {
			t.Errorf("LimitTAT after SetLimitTAT in one transaction = %v, %v; want %v", got, err, at)
		}
		return tx.SetLimitTAT(ctx, "b", at)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	// BEGIN with the two writes and the read, then the last write with
	// the COMMIT.
	if n := s.RoundTrips() - before; n != 2 {
		t.Errorf("Update made %d round trips, want 2", n)
	}
	if got, err := s.LimitTAT(ctx, "b"); err != nil || !got.Equal(at) {
		t.Errorf("LimitTAT of a write sent with the COMMIT = %v, %v; want %v", got, err, at)
	}

	// The same audit ID again: the write fails at the COMMIT, and so does
	// the transaction, with the rate limit written before it.
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetLimitTAT(ctx, "c", at); err != nil {
			return err
		}
		return tx.AddAudit(ctx, &store.AuditEntry{ID: "audit-1", OwnerID: "o", Action: "x"})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("Update with a blind write that conflicts = %v, want ErrConflict", err)
	}
	if got, err := s.LimitTAT(ctx, "c"); err != nil || !got.IsZero() {
		t.Errorf("LimitTAT written by a failed transaction = %v, %v; want none", got, err)
	}
	es, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil || len(es) != 1 {
		t.Errorf("ListAudit = %d entries, %v; want the one committed", len(es), err)
	}
}

// Update's writes go without savepoints while fn returns the first
// failure it meets: two writes are BEGIN, two statements and COMMIT. Only
// when fn goes on after a failed write does it run again, each write then
// in a savepoint.
func TestUpdateSavepointsOnlyWhenFnGoesOn(t *testing.T) {
	ctx := t.Context()
	s := openEmpty(t)
	exp := time.Now().Add(time.Hour)
	before := s.Statements()
	runs := 0
	err := s.Update(ctx, func(tx store.Tx) error {
		runs++
		if err := tx.ConsumeNonce(ctx, "a", exp); err != nil {
			return err
		}
		return tx.ConsumeNonce(ctx, "b", exp)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Statements() - before; n != 4 || runs != 1 {
		t.Errorf("Update of two writes: %d statements in %d runs of fn, want 4 in 1", n, runs)
	}

	// fn returns the conflict: one run, the transaction rolled back.
	runs = 0
	err = s.Update(ctx, func(tx store.Tx) error {
		runs++
		if err := tx.ConsumeNonce(ctx, "c", exp); err != nil {
			return err
		}
		return tx.ConsumeNonce(ctx, "a", exp)
	})
	if !errors.Is(err, store.ErrConflict) || runs != 1 {
		t.Errorf("Update whose fn returns a conflict = %v after %d runs, want ErrConflict after 1", err, runs)
	}
	if err := s.ConsumeNonce(ctx, "c", exp); err != nil {
		t.Errorf("a nonce spent by a rolled-back Update: %v", err)
	}

	// fn goes on: a second run, in savepoints, commits what follows.
	runs = 0
	err = s.Update(ctx, func(tx store.Tx) error {
		runs++
		_ = tx.ConsumeNonce(ctx, "a", exp)
		return tx.ConsumeNonce(ctx, "d", exp)
	})
	if err != nil || runs != 2 {
		t.Errorf("Update whose fn goes on after a conflict = %v after %d runs, want nil after 2", err, runs)
	}
	if err := s.ConsumeNonce(ctx, "d", exp); !errors.Is(err, store.ErrConflict) {
		t.Errorf("the nonce spent after the conflict: ConsumeNonce = %v, want ErrConflict", err)
	}
}
