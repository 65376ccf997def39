package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

var aheadTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ReadAhead", testReadAhead},
}

// Under store.ReadAhead every read answers as without it: the rows a
// finalize, a newOrder and a newAccount read, and those a request said it
// reads after its account (store.Expect), present and missing; a read
// after a write made under the context sees the write; a row read again
// is read again, with what another request wrote meanwhile.
func testReadAhead(t *testing.T, s store.Store) {
	fx := newFixture(t, s, "ahead")
	o := mustOrder(t, s, fx.account, "order-ahead", store.StatusReady, base.Add(time.Hour))
	plain := t.Context()
	want := func(what string, got any, err error, w any) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s under ReadAhead: %v", what, err)
		}
		equal(t, what+" under ReadAhead", got, w)
	}

	// finalize's reads, the model without an attestation rule, the
	// device without a short name.
	ctx := store.ReadAhead(plain)
	got, err := s.GetOrder(ctx, o.ID)
	want("GetOrder", got, err, normalized(o))
	for _, id := range o.AuthorizationIDs {
		a, err := s.GetAuthorization(ctx, id)
		w, werr := s.GetAuthorization(plain, id)
		if werr != nil {
			t.Fatal(werr)
		}
		want("GetAuthorization", a, err, w)
	}
	dev, err := s.GetDevice(ctx, fx.device.ID)
	want("GetDevice", dev, err, normalized(fx.device))
	n, err := s.GetDeviceShortName(ctx, fx.device.ID)
	want("GetDeviceShortName", n, err, store.ShortName{})
	if p, err := s.GetAttestPolicy(ctx, fx.device.Model); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestPolicy of a model without a rule under ReadAhead = %+v, %v; want ErrNotFound", p, err)
	}

	// Now with a rule and a short name; a write under ctx comes before
	// the reads that follow it.
	if err := s.SetDeviceShortName(plain, fx.device.ID, store.ShortName{Name: "kitchen"}); err != nil {
		t.Fatal(err)
	}
	rule := &store.AttestPolicy{Model: fx.device.Model, Rule: store.AttestRequired, Actor: "alice", UpdatedAt: base}
	if err := s.SetAttestPolicy(plain, rule); err != nil {
		t.Fatal(err)
	}
	ctx = store.ReadAhead(plain)
	if _, err := s.GetOrder(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetAuthorization(plain, o.AuthorizationIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	a.Status = store.StatusInvalid
	if err := s.UpdateAuthorization(ctx, a); err != nil {
		t.Fatal(err)
	}
	got2, err := s.GetAuthorization(ctx, a.ID)
	want("GetAuthorization after UpdateAuthorization", got2, err, a)
	n, err = s.GetDeviceShortName(ctx, fx.device.ID)
	want("GetDeviceShortName", n, err, store.ShortName{Name: "kitchen"})
	p, err := s.GetAttestPolicy(ctx, fx.device.Model)
	want("GetAttestPolicy", p, err, normalized(rule))

	// A row read again is read again: another request's write shows.
	ctx = store.ReadAhead(plain)
	if _, err := s.GetOrder(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	o.Status = store.StatusInvalid
	if err := s.UpdateOrder(plain, o, store.StatusReady); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetOrder(ctx, o.ID)
	if err != nil || got.Status != store.StatusInvalid {
		t.Errorf("GetOrder again under ReadAhead after another request's update = %+v, %v; want status invalid", got, err)
	}

	// What a request reads after its account.
	for _, next := range []struct{ next, key string }{
		{store.NextOrder, o.ID}, {store.NextFinalize, o.ID}, {store.NextAuthorization, o.AuthorizationIDs[1]},
		{store.NextCertificate, "no-such-serial"}, {store.NextAccountDevice, ""},
	} {
		ctx = store.ReadAhead(plain)
		store.Expect(ctx, next.next, next.key)
		acct, err := s.GetAccount(ctx, fx.account.ID)
		want("GetAccount expecting "+next.next, acct, err, normalized(fx.account))
		switch next.next {
		case store.NextOrder, store.NextFinalize:
			got, err := s.GetOrder(ctx, o.ID)
			want("GetOrder after the account", got, err, normalized(o))
		case store.NextAuthorization:
			a, err := s.GetAuthorization(ctx, next.key)
			w, werr := s.GetAuthorization(plain, next.key)
			if werr != nil {
				t.Fatal(werr)
			}
			want("GetAuthorization after the account", a, err, w)
		case store.NextCertificate:
			if c, err := s.GetCertificate(ctx, next.key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetCertificate of a missing one after the account = %+v, %v; want ErrNotFound", c, err)
			}
		case store.NextAccountDevice:
			dev, err := s.GetDevice(ctx, fx.device.ID)
			want("GetDevice after the account", dev, err, normalized(fx.device))
			p, err := s.GetAttestPolicy(ctx, fx.device.Model)
			want("GetAttestPolicy after the account", p, err, normalized(rule))
		}
	}

	// The device, then its model's rule.
	ctx = store.ReadAhead(plain)
	dev, err = s.GetDevice(ctx, fx.device.ID)
	want("GetDevice", dev, err, normalized(fx.device))
	p, err = s.GetAttestPolicy(ctx, fx.device.Model)
	want("GetAttestPolicy", p, err, normalized(rule))

	// newAccount's: the EAB key, then its device.
	ctx = store.ReadAhead(plain)
	k, err := s.GetEABKey(ctx, fx.key.KID)
	wk, werr := s.GetEABKey(plain, fx.key.KID)
	if werr != nil {
		t.Fatal(werr)
	}
	want("GetEABKey", k, err, wk)
	dev, err = s.GetDevice(ctx, fx.device.ID)
	want("GetDevice", dev, err, normalized(fx.device))

	// Missing rows are missing.
	ctx = store.ReadAhead(plain)
	for what, err := range map[string]error{
		"GetOrder":         func() error { _, err := s.GetOrder(ctx, "no-such-order"); return err }(),
		"GetDevice":        func() error { _, err := s.GetDevice(ctx, "no-such-device"); return err }(),
		"GetEABKey":        func() error { _, err := s.GetEABKey(ctx, "no-such-kid"); return err }(),
		"GetAuthorization": func() error { _, err := s.GetAuthorization(ctx, "no-such-authz"); return err }(),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a missing row under ReadAhead = %v, want ErrNotFound", what, err)
		}
	}
}
