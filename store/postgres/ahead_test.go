package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// Under store.ReadAhead, a finalize's account and the six reads it said
// come next (store.Expect: the order, its two authorizations, the device,
// its short name, its model's attestation rule) are one round trip;
// without, seven.
func TestReadAheadRoundTrips(t *testing.T) {
	s := openEmpty(t)
	ctx := t.Context()
	d := activeDevice(t, s, "m1")
	a := &store.Account{DeviceID: d.ID, KeyThumbprint: "tp", KeyJWK: []byte(`{}`), Status: store.StatusValid}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	ord := &store.Order{DeviceID: d.ID, Status: store.StatusReady, Expires: exp,
		Identifiers: []store.Identifier{{Type: "dns", Value: "l1.z"}, {Type: "dns", Value: "*.l1.z"}}}
	authzs := []*store.Authorization{
		{Identifier: ord.Identifiers[0], Status: store.StatusValid, Expires: exp},
		{Identifier: ord.Identifiers[1], Wildcard: true, Status: store.StatusValid, Expires: exp},
	}
	ord.AccountID = a.ID
	if err := s.CreateOrder(ctx, ord, authzs); err != nil {
		t.Fatal(err)
	}
	reads := func(ahead bool) int64 {
		c := ctx
		if ahead {
			c = store.ReadAhead(ctx)
			store.Expect(c, store.NextFinalize, ord.ID)
		}
		before := s.RoundTrips()
		if _, err := s.GetAccount(c, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetOrder(c, ord.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range ord.AuthorizationIDs {
			if _, err := s.GetAuthorization(c, id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.GetDevice(c, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetDeviceShortName(c, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAttestPolicy(c, d.Model); err == nil {
			t.Fatal("GetAttestPolicy found a rule that was never set")
		}
		return s.RoundTrips() - before
	}
	reads(false) // every statement prepared
	if n := reads(false); n != 7 {
		t.Errorf("finalize's reads without ReadAhead: %d round trips, want 7", n)
	}
	if n := reads(true); n != 1 {
		t.Errorf("finalize's reads under ReadAhead: %d round trips, want 1", n)
	}
}

// Rate limits named by store.ExpectLimits go with a transaction's first
// read of a row: a device's lock and two limits are one round trip with
// the BEGIN, and each limit reads what a read of its own would.
func TestExpectLimitsRoundTrips(t *testing.T) {
	s := openEmpty(t)
	ctx := t.Context()
	d := activeDevice(t, s, "")
	at := time.Unix(1_900_000_000, 0).UTC()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetLimitTAT(ctx, "a", at) }); err != nil {
		t.Fatal(err)
	}
	take := func(ahead bool) int64 {
		c := ctx
		if ahead {
			c = store.ReadAhead(ctx)
			store.ExpectLimits(c, "a", "", "b")
		}
		var n int64
		err := s.Update(c, func(tx store.Tx) error {
			before := s.RoundTrips()
			if _, err := tx.GetDevice(c, d.ID); err != nil {
				return err
			}
			for k, want := range map[string]time.Time{"a": at, "b": {}} {
				if got, err := tx.LimitTAT(c, k); err != nil || !got.Equal(want) {
					t.Errorf("LimitTAT(%q) = %v, %v; want %v", k, got, err, want)
				}
			}
			n = s.RoundTrips() - before
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	take(false) // every statement prepared
	if n := take(false); n != 3 {
		t.Errorf("a device and two limits without ExpectLimits: %d round trips, want 3", n)
	}
	if n := take(true); n != 1 {
		t.Errorf("a device and two limits with ExpectLimits: %d round trips, want 1", n)
	}
}

// LimitTAT on the Store, outside a transaction, from many goroutines at
// once: the Store's own txn is shared, and reading a limit there must
// not touch it (the race detector watches).
func TestLimitTATOnStoreConcurrently(t *testing.T) {
	s := openEmpty(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if _, err := s.LimitTAT(ctx, "k"); err != nil {
					t.Errorf("LimitTAT: %v", err)
				}
			}
		})
	}
	wg.Wait()
}

// An open-order count named by store.ExpectOpenOrders goes with the
// transaction's first row read, and answers as a count of its own.
func TestExpectOpenOrders(t *testing.T) {
	s := openEmpty(t)
	ctx := t.Context()
	d := activeDevice(t, s, "")
	a := &store.Account{DeviceID: d.ID, KeyThumbprint: "tp", KeyJWK: []byte(`{}`), Status: store.StatusValid}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	exp := now.Add(time.Hour).UTC().Truncate(time.Microsecond)
	ord := &store.Order{AccountID: a.ID, DeviceID: d.ID, Status: store.StatusPending, Expires: exp,
		Identifiers: []store.Identifier{{Type: "dns", Value: "l1.z"}}}
	if err := s.CreateOrder(ctx, ord, []*store.Authorization{{Identifier: ord.Identifiers[0], Status: store.StatusPending, Expires: exp}}); err != nil {
		t.Fatal(err)
	}
	count := func(ahead bool) int64 {
		c := ctx
		if ahead {
			c = store.ReadAhead(ctx)
			store.ExpectOpenOrders(c, a.ID, now)
		}
		var rts int64
		err := s.Update(c, func(tx store.Tx) error {
			before := s.RoundTrips()
			if _, err := tx.GetDevice(c, d.ID); err != nil {
				return err
			}
			n, first, err := tx.CountOpenOrders(c, a.ID, now)
			if err != nil || n != 1 || !first.Equal(exp) {
				t.Errorf("CountOpenOrders = %d, %v, %v; want 1, %v", n, first, err, exp)
			}
			rts = s.RoundTrips() - before
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rts
	}
	count(false) // every statement prepared
	if n := count(false); n != 2 {
		t.Errorf("a device and a count without ExpectOpenOrders: %d round trips, want 2", n)
	}
	if n := count(true); n != 1 {
		t.Errorf("a device and a count with ExpectOpenOrders: %d round trips, want 1", n)
	}
}
