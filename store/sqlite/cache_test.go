package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/store"
)

// cacheFixture is a store with one device and one account of it.
func cacheFixture(t *testing.T) (*Store, string, *store.Device, *store.Account) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "lantls.db")
	s := open(t, path)
	o, err := s.EnsureOwner(ctx, "owner@example.test")
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Device{Label: "d1", OwnerID: o.ID, Name: "TV", Status: store.StatusActive}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	a := &store.Account{DeviceID: d.ID, KeyThumbprint: "tp", KeyJWK: []byte(`{"k":1}`),
		Contact: []string{"mailto:a@example.test"}, Status: store.StatusValid, EABKID: "kid"}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	return s, path, d, a
}

func TestCacheSeesOwnWrites(t *testing.T) {
	s, _, d, a := cacheFixture(t)
	ctx := t.Context()
	for range 2 { // miss, then hit
		if got, err := s.GetAccount(ctx, a.ID); err != nil || got.Status != store.StatusValid {
			t.Fatalf("GetAccount = %+v, %v", got, err)
		}
	}
	a.Status = store.StatusDeactivated
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateAccount(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAccount(ctx, a.ID); err != nil || got.Status != store.StatusDeactivated {
		t.Errorf("after Update: GetAccount = %+v, %v; want deactivated", got, err)
	}

	s.GetDevice(ctx, d.ID)
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := s.UpdateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDevice(ctx, d.ID); err != nil || got.Status != store.StatusRevoked {
		t.Errorf("after UpdateDevice: GetDevice = %+v, %v; want revoked", got, err)
	}
}

// TestCacheSeesOtherProcessWrites changes a device and an account through
// a second Store on the same file, as `lantls admin device revoke` does
// next to a running issuer.
func TestCacheSeesOtherProcessWrites(t *testing.T) {
	s, path, d, a := cacheFixture(t)
	ctx := t.Context()
	s.GetDevice(ctx, d.ID)
	s.GetAccount(ctx, a.ID)
	other := open(t, path)
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	a.Status = store.StatusRevoked
	err := other.Update(ctx, func(tx store.Tx) error {
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		return tx.UpdateDevice(ctx, d)
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testwait.For(t, 5*time.Second, "the cache to drop the device and account another process revoked", func() bool {
		gd, err1 := s.GetDevice(ctx, d.ID)
		ga, err2 := s.GetAccount(ctx, a.ID)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		return gd.Status == store.StatusRevoked && ga.Status == store.StatusRevoked
	})
	t.Logf("seen after %v (check interval %v)", time.Since(start).Round(time.Millisecond), externalCheckInterval)
}

func TestCacheReturnsCopies(t *testing.T) {
	s, _, _, a := cacheFixture(t)
	ctx := t.Context()
	for range 2 {
		got, err := s.GetAccount(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusValid || string(got.KeyJWK) != `{"k":1}` || got.Contact[0] != "mailto:a@example.test" {
			t.Fatalf("GetAccount = %+v", got)
		}
		got.Status, got.KeyJWK[0], got.Contact[0] = store.StatusRevoked, 'x', "changed"
	}
}

// TestCacheReadYourWrites toggles an account's status while readers read
// it: once an update has returned, no read that starts after it may see
// the status before it.
func TestCacheReadYourWrites(t *testing.T) {
	s, _, _, a := cacheFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s.GetAccount(ctx, a.ID)
			}
		}()
	}
	statuses := []store.Status{store.StatusDeactivated, store.StatusValid}
	for i := range 200 {
		a.Status = statuses[i%2]
		if err := s.UpdateAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetAccount(t.Context(), a.ID); err != nil || got.Status != a.Status {
			t.Fatalf("update %d: GetAccount = %+v, %v; want %s", i, got, err, a.Status)
		}
	}
	cancel()
	wg.Wait()
}

// TestCachedRowsEqualStoredRows creates rows of every cached kind with
// times that have nanoseconds and a zone, and checks that what the cache
// returns equals what reading the database returns.
func TestCachedRowsEqualStoredRows(t *testing.T) {
	s, _, d, a := cacheFixture(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	o := &store.Order{AccountID: a.ID, DeviceID: d.ID, Status: store.StatusReady,
		Identifiers: []store.Identifier{{Type: "dns", Value: "x.example.test"}}, Profile: "default",
		Expires: at.Add(time.Hour), CreatedAt: at}
	z := &store.Authorization{Identifier: store.Identifier{Type: "dns", Value: "x.example.test"},
		Status: store.StatusValid, Expires: at.Add(time.Hour),
		Challenges: []store.Challenge{{Type: "http-01", Token: "tok", Status: store.StatusValid, Validated: at}}}
	err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateOrder(ctx, o, []*store.Authorization{z}) })
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Certificate{Serial: "abc", DeviceID: d.ID, AccountID: a.ID, OrderID: o.ID,
		Names: []string{"x.example.test"}, Profile: "default", NotBefore: at, NotAfter: at.Add(time.Hour),
		ChainPEM: []byte("pem"), CreatedAt: at}
	if err := s.CreateCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		what         string
		cache, store func() (any, error)
	}{
		{"device", func() (any, error) { return s.GetDevice(ctx, d.ID) },
			func() (any, error) { return s.Tx.GetDevice(ctx, d.ID) }},
		{"account", func() (any, error) { return s.GetAccount(ctx, a.ID) },
			func() (any, error) { return s.Tx.GetAccount(ctx, a.ID) }},
		{"order", func() (any, error) { return s.GetOrder(ctx, o.ID) },
			func() (any, error) { return s.Tx.GetOrder(ctx, o.ID) }},
		{"authorization", func() (any, error) { return s.GetAuthorization(ctx, z.ID) },
			func() (any, error) {
				return s.Tx.GetAuthorization(ctx, z.ID)
			}},
		{"certificate", func() (any, error) { return s.GetCertificate(ctx, c.Serial) },
			func() (any, error) { return s.Tx.GetCertificate(ctx, c.Serial) }},
	} {
		cachedRow, err1 := tt.cache()
		storedRow, err2 := tt.store()
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", tt.what, err1, err2)
		}
		if !reflect.DeepEqual(cachedRow, storedRow) {
			t.Errorf("%s: cached\n%+v\nstored\n%+v", tt.what, cachedRow, storedRow)
		}
	}

	// A change drops the row: the next read sees it.
	o.Status, o.CertificateSerial = store.StatusValid, c.Serial
	if err := s.UpdateOrder(ctx, o, store.StatusReady); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetOrder(ctx, o.ID); err != nil || got.Status != store.StatusValid {
		t.Errorf("after UpdateOrder: %+v, %v", got, err)
	}
	if err := s.RevokeCertificate(ctx, c.Serial, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetCertificate(ctx, c.Serial); err != nil || !got.Revoked() {
		t.Errorf("after RevokeCertificate: %+v, %v", got, err)
	}
}

// TestFailedWriteCachesNothing rolls back a write that created an order:
// the order must not be found through the cache.
func TestFailedWriteCachesNothing(t *testing.T) {
	s, _, d, a := cacheFixture(t)
	ctx := t.Context()
	o := &store.Order{AccountID: a.ID, DeviceID: d.ID, Status: store.StatusReady, Profile: "default",
		Identifiers: []store.Identifier{{Type: "dns", Value: "x.example.test"}}, Expires: time.Now().Add(time.Hour)}
	errBoom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateOrder(ctx, o, nil); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	if _, err := s.GetOrder(ctx, o.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOrder of a rolled-back order = %v, want ErrNotFound", err)
	}
}

// TestCacheInsideWrites checks the reads of cached rows inside write
// transactions: from the cache for a row the transaction has not touched,
// from the database for one it or an earlier write of its batch touched,
// and from the database again once another process has committed.
func TestCacheInsideWrites(t *testing.T) {
	s, path, d, _ := cacheFixture(t)
	ctx := t.Context()
	nameInWrite := func(fn func(tx store.Tx) error) string {
		t.Helper()
		var name string
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			got, err := tx.GetDevice(ctx, d.ID)
			if err == nil {
				name = got.Name
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	nothing := func(store.Tx) error { return nil }
	rename := func(name string) func(tx store.Tx) error {
		return func(tx store.Tx) error {
			c := *d
			c.Name = name
			return tx.UpdateDevice(ctx, &c)
		}
	}

	// Changed on the writer's own connection, behind the cache (no
	// process does this): a write that has not touched the row reads
	// the cache.
	if _, err := s.GetDevice(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE devices SET name = 'behind' WHERE id = ?`, d.ID); err != nil {
		t.Fatal(err)
	}
	if got := nameInWrite(nothing); got != "TV" {
		t.Errorf("untouched row read inside a write = %q, want the cached %q", got, "TV")
	}

	// Touched by the write itself.
	if got := nameInWrite(rename("Radio")); got != "Radio" {
		t.Errorf("row read after the write changed it = %q, want %q", got, "Radio")
	}

	// Touched by an earlier write of the same batch, whose change the
	// cache gets only after the commit.
	if _, err := s.GetDevice(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	var seen string
	batch := []queued{
		queue(s, ctx, func(t *txn) error { return rename("Lamp")(t) }),
		queue(s, ctx, func(t *txn) error {
			got, err := t.GetDevice(ctx, d.ID)
			if err == nil {
				seen = got.Name
			}
			return err
		}),
	}
	run(s, batch)
	checkResults(t, batch, []error{nil, nil})
	if seen != "Lamp" {
		t.Errorf("row read after an earlier write of the batch changed it = %q, want %q", seen, "Lamp")
	}

	// Changed by another process: seen by the next write at once, not
	// after the next check of externalCheckInterval.
	if _, err := s.GetDevice(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	other := open(t, path)
	c := *d
	c.Name = "Fan"
	if err := other.UpdateDevice(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if got := nameInWrite(nothing); got != "Fan" {
		t.Errorf("row read inside a write after another process changed it = %q, want %q", got, "Fan")
	}
}

// TestCacheAttestPolicies checks the cache of attestation rules, which
// keeps the absence of one too: a rule set or deleted here is seen at
// once, inside and outside transactions, and one set by another process
// within the check interval.
func TestCacheAttestPolicies(t *testing.T) {
	s, path, _, _ := cacheFixture(t)
	ctx := t.Context()
	rule := func() store.AttestRule {
		t.Helper()
		p, err := s.GetAttestPolicy(ctx, "tv")
		if errors.Is(err, store.ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return p.Rule
	}
	for range 2 { // miss, then the cached absence
		if got := rule(); got != "" {
			t.Fatalf("rule before any = %q, want none", got)
		}
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetAttestPolicy(ctx, &store.AttestPolicy{Model: "tv", Rule: store.AttestRequired, Actor: "cli"}); err != nil {
			return err
		}
		p, err := tx.GetAttestPolicy(ctx, "tv")
		if err != nil || p.Rule != store.AttestRequired {
			t.Errorf("inside the write that set it: %+v, %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rule(); got != store.AttestRequired {
		t.Errorf("after SetAttestPolicy: %q, want %q", got, store.AttestRequired)
	}
	if err := s.DeleteAttestPolicy(ctx, "tv"); err != nil {
		t.Fatal(err)
	}
	if got := rule(); got != "" {
		t.Errorf("after DeleteAttestPolicy: %q, want none", got)
	}

	other := open(t, path)
	if err := other.SetAttestPolicy(ctx, &store.AttestPolicy{Model: "tv", Rule: store.AttestOff, Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the rule another process set", func() bool { return rule() == store.AttestOff })
}
