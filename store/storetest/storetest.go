// Package storetest is the conformance suite of store.Store. Every
// implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
//
// It checks the rules written in package store's documentation, each case on
// a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// Run runs the suite. open must return a new, empty store for each subtest;
// Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Owners", testOwners},
		{"DeviceRoundTrip", testDeviceRoundTrip},
		{"CreateFillsIDAndTime", testCreateFills},
		{"UpdateDevice", testUpdateDevice},
		{"ListDevices", testListDevices},
		{"EABKeys", testEABKeys},
		{"Accounts", testAccounts},
		{"NilAndEmptySlices", testNilAndEmptySlices},
		{"OrderRoundTrip", testOrderRoundTrip},
		{"CreateOrderFills", testCreateOrderFills},
		{"CreateOrderAtomic", testCreateOrderAtomic},
		{"UpdateOrder", testUpdateOrder},
		{"UpdateAuthorization", testUpdateAuthorization},
		{"ListOrderIDs", testListOrderIDs},
		{"ListOrderIDsTies", testListOrderIDsTies},
		{"CountOpenOrders", testCountOpenOrders},
		{"FailProcessingOrders", testFailProcessingOrders},
		{"Certificates", testCertificates},
		{"RevokeCertificate", testRevokeCertificate},
		{"ListRevoked", testListRevoked},
		{"EmptyLists", testEmptyLists},
		{"Nonces", testNonces},
		{"Secret", testSecret},
		{"RateLimits", testRateLimits},
		{"Sweep", testSweep},
		{"UpdateCommits", testUpdateCommits},
		{"UpdateRollsBack", testUpdateRollsBack},
		{"UpdateRollsBackOnStoreError", testUpdateRollsBackOnStoreError},
		{"UpdateGoesOnAfterConflict", testUpdateGoesOnAfterConflict},
		{"NotFound", testNotFound},
		{"Conflict", testConflict},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"Passkeys", testPasskeys},
		{"UpstreamOrders", testUpstreamOrders},
		{"DeviceStatus", testDeviceStatus},
		{"ShortNames", testShortNames},
		{"DeviceSummaries", testDeviceSummaries},
		{"NameCheck", testNameCheck},
		{"AttestPolicies", testAttestPolicies},
		{"DeviceAttestation", testDeviceAttestation},
	}
	tests = append(tests, dnsTests...)
	tests = append(tests, pairingTests...)
	tests = append(tests, aheadTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// base is an instant with nanoseconds in a zone other than UTC, so that
// every round trip also checks that times come back in UTC, truncated to the
// microsecond.
var base = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+2", 2*3600))

func testOwners(t *testing.T, s store.Store) {
	ctx := t.Context()
	o, err := s.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatalf("EnsureOwner: %v", err)
	}
	if o.ID == "" || o.Name != "alice" || o.CreatedAt.IsZero() {
		t.Fatalf("EnsureOwner = %+v, want an ID, name alice and a creation time", o)
	}
	checkTimes(t, o)
	again, err := s.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatalf("EnsureOwner again: %v", err)
	}
	equal(t, "EnsureOwner again", again, o)
	byID, err := s.GetOwner(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOwner: %v", err)
	}
	equal(t, "GetOwner", byID, o)
	byName, err := s.GetOwnerByName(ctx, "alice")
	if err != nil {
		t.Fatalf("GetOwnerByName: %v", err)
	}
	equal(t, "GetOwnerByName", byName, o)
	bob, err := s.EnsureOwner(ctx, "bob")
	if err != nil {
		t.Fatalf("EnsureOwner bob: %v", err)
	}
	if bob.ID == o.ID {
		t.Errorf("bob and alice share ID %q", o.ID)
	}
}

func testDeviceRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := mustOwner(t, s, "alice")
	d := &store.Device{
		ID:            "dev-1",
		Label:         "aaaabbbbccccddddeeeeffffgg",
		OwnerID:       o.ID,
		Name:          "Living room TV",
		Model:         "TV-9000",
		KeyThumbprint: "thumb-1",
		Status:        store.StatusRevoked,
		CreatedAt:     base,
		RevokedAt:     base.Add(time.Hour + time.Nanosecond),
	}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	want := normalized(d)
	got, err := s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDevice: %v", err)
	}
	equal(t, "GetDevice", got, want)
	checkTimes(t, got)
	got, err = s.GetDeviceByLabel(ctx, d.Label)
	if err != nil {
		t.Fatalf("GetDeviceByLabel: %v", err)
	}
	equal(t, "GetDeviceByLabel", got, want)
}

func testCreateFills(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	o := mustOwner(t, s, "alice")
	d := &store.Device{Label: "label-1", OwnerID: o.ID, Status: store.StatusActive}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	k := &store.EABKey{DeviceID: d.ID, HMACKey: []byte("k")}
	if err := s.CreateEABKey(ctx, k); err != nil {
		t.Fatalf("CreateEABKey: %v", err)
	}
	a := &store.Account{DeviceID: d.ID, KeyThumbprint: "tp", Status: store.StatusValid, EABKID: k.KID}
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	ord, authzs := makeOrder(a, "", store.StatusPending, base)
	ord.CreatedAt = time.Time{}
	authzs[0].ID = ""
	if err := s.CreateOrder(ctx, ord, authzs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	c := makeCertificate(ord, "0a", base.Add(time.Hour))
	c.CreatedAt = time.Time{}
	if err := s.CreateCertificate(ctx, c); err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	for name, id := range map[string]string{"device": d.ID, "eab key": k.KID, "account": a.ID, "order": ord.ID, "authorization": authzs[0].ID} {
		if id == "" {
			t.Errorf("%s: ID not filled", name)
		}
	}
	for name, at := range map[string]time.Time{"device": d.CreatedAt, "eab key": k.CreatedAt, "account": a.CreatedAt, "order": ord.CreatedAt, "certificate": c.CreatedAt} {
		if at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: CreatedAt = %v, want about now", name, at)
		}
	}
	gotD, err := s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDevice: %v", err)
	}
	equal(t, "GetDevice", gotD, normalized(d))
	gotK, err := s.GetEABKey(ctx, k.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	equal(t, "GetEABKey", gotK, normalized(k))
	gotA, err := s.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	equal(t, "GetAccount", gotA, normalized(a))
	gotO, err := s.GetOrder(ctx, ord.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	equal(t, "GetOrder", gotO, normalized(ord))
	gotAz, err := s.GetAuthorization(ctx, authzs[0].ID)
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	equal(t, "GetAuthorization", gotAz, normalized(authzs[0]))
	gotC, err := s.GetCertificate(ctx, c.Serial)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	equal(t, "GetCertificate", gotC, normalized(c))
}

func testUpdateDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := mustOwner(t, s, "other")
	d := *fx.device
	d.Name = "Kitchen NAS"
	d.Status = store.StatusRevoked
	d.KeyThumbprint = "thumb-new"
	d.RevokedAt = base.Add(time.Minute)
	// Fields UpdateDevice does not write.
	d.Label = "changed-label"
	d.OwnerID = other.ID
	d.Model = "changed-model"
	d.CreatedAt = base.Add(time.Hour)
	if err := s.UpdateDevice(ctx, &d); err != nil {
		t.Fatalf("UpdateDevice: %v", err)
	}
	want := normalized(fx.device)
	want.Name, want.Status, want.KeyThumbprint = d.Name, d.Status, d.KeyThumbprint
	want.RevokedAt = normTime(d.RevokedAt)
	got, err := s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDevice: %v", err)
	}
	equal(t, "GetDevice after UpdateDevice", got, want)

	// RevokedAt back to zero is written too.
	d.RevokedAt = time.Time{}
	d.Status = store.StatusActive
	if err := s.UpdateDevice(ctx, &d); err != nil {
		t.Fatalf("UpdateDevice: %v", err)
	}
	want.RevokedAt, want.Status = time.Time{}, store.StatusActive
	got, err = s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDevice: %v", err)
	}
	equal(t, "GetDevice after clearing RevokedAt", got, want)
}

func testListDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustOwner(t, s, "alice")
	bob := mustOwner(t, s, "bob")
	// Created out of order: the list follows CreatedAt, not insertion.
	devices := []*store.Device{
		{ID: "d3", Label: "l3", OwnerID: alice.ID, Status: store.StatusActive, CreatedAt: base.Add(3 * time.Second)},
		{ID: "d1", Label: "l1", OwnerID: alice.ID, Status: store.StatusActive, CreatedAt: base.Add(1 * time.Second)},
		{ID: "d2", Label: "l2", OwnerID: bob.ID, Status: store.StatusActive, CreatedAt: base.Add(2 * time.Second)},
	}
	for _, d := range devices {
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatalf("CreateDevice %s: %v", d.ID, err)
		}
	}
	tests := []struct {
		owner string
		want  []string
	}{
		{"", []string{"d1", "d2", "d3"}},
		{alice.ID, []string{"d1", "d3"}},
		{bob.ID, []string{"d2"}},
		{"nobody", []string{}},
	}
	for _, tt := range tests {
		got, err := s.ListDevices(ctx, store.DeviceFilter{OwnerID: tt.owner})
		if err != nil {
			t.Fatalf("ListDevices(%q): %v", tt.owner, err)
		}
		ids := []string{}
		for _, d := range got {
			ids = append(ids, d.ID)
			checkTimes(t, d)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("ListDevices(%q) = %v, want %v", tt.owner, ids, tt.want)
		}
	}
	got, err := s.ListDevices(ctx, store.DeviceFilter{OwnerID: bob.ID})
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	equal(t, "ListDevices(bob)", got, []*store.Device{normalized(devices[2])})
}

func testEABKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	got, err := s.GetEABKey(ctx, fx.key.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	equal(t, "GetEABKey", got, normalized(fx.key))

	unused := &store.EABKey{KID: "kid-unused", DeviceID: fx.device.ID, HMACKey: []byte("secret"), CreatedAt: base}
	if err := s.CreateEABKey(ctx, unused); err != nil {
		t.Fatalf("CreateEABKey: %v", err)
	}
	usedAt := base.Add(time.Minute)
	if err := s.UseEABKey(ctx, fx.key.KID, fx.account.ID, usedAt); err != nil {
		t.Fatalf("UseEABKey: %v", err)
	}
	want := normalized(fx.key)
	want.UsedAt, want.AccountID = normTime(usedAt), fx.account.ID
	got, err = s.GetEABKey(ctx, fx.key.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	equal(t, "GetEABKey after UseEABKey", got, want)
	if err := s.UseEABKey(ctx, fx.key.KID, "acct-other", usedAt); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseEABKey of a used key = %v, want ErrConflict", err)
	}

	if err := s.DisableDeviceEABKeys(ctx, fx.device.ID, base.Add(2*time.Minute)); err != nil {
		t.Fatalf("DisableDeviceEABKeys: %v", err)
	}
	got, err = s.GetEABKey(ctx, unused.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	wantUnused := normalized(unused)
	wantUnused.Disabled = true
	equal(t, "unused key after DisableDeviceEABKeys", got, wantUnused)
	got, err = s.GetEABKey(ctx, fx.key.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	equal(t, "used key after DisableDeviceEABKeys", got, want)
	got, err = s.GetEABKey(ctx, other.key.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	equal(t, "other device's key after DisableDeviceEABKeys", got, normalized(other.key))
	if err := s.UseEABKey(ctx, unused.KID, fx.account.ID, usedAt); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseEABKey of a disabled key = %v, want ErrConflict", err)
	}
	if err := s.UseEABKey(ctx, other.key.KID, other.account.ID, usedAt); err != nil {
		t.Errorf("UseEABKey of the other device's key: %v", err)
	}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	got, err := s.GetAccount(ctx, fx.account.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	equal(t, "GetAccount", got, normalized(fx.account))
	checkTimes(t, got)
	got, err = s.GetAccountByThumbprint(ctx, fx.account.KeyThumbprint)
	if err != nil {
		t.Fatalf("GetAccountByThumbprint: %v", err)
	}
	equal(t, "GetAccountByThumbprint", got, normalized(fx.account))

	second := &store.Account{
		ID: "acct-second", DeviceID: fx.device.ID, KeyThumbprint: "tp-second", KeyJWK: []byte(`{}`),
		Status: store.StatusValid, CreatedAt: base.Add(time.Second),
	}
	if err := s.CreateAccount(ctx, second); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	list, err := s.ListAccountsByDevice(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("ListAccountsByDevice: %v", err)
	}
	equal(t, "ListAccountsByDevice", list, []*store.Account{normalized(fx.account), normalized(second)})

	a := *fx.account
	a.Status = store.StatusDeactivated
	a.Contact = []string{"mailto:new@example.org", "mailto:other@example.org"}
	a.KeyThumbprint = "tp-rolled"
	a.KeyJWK = []byte(`{"kty":"EC","crv":"P-256","x":"new"}`)
	// Fields UpdateAccount does not write.
	a.DeviceID = "elsewhere"
	a.EABKID = "elsewhere"
	a.CreatedAt = base.Add(time.Hour)
	if err := s.UpdateAccount(ctx, &a); err != nil {
		t.Fatalf("UpdateAccount: %v", err)
	}
	want := normalized(fx.account)
	want.Status, want.Contact, want.KeyThumbprint, want.KeyJWK = a.Status, a.Contact, a.KeyThumbprint, a.KeyJWK
	got, err = s.GetAccount(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	equal(t, "GetAccount after UpdateAccount", got, want)
	got, err = s.GetAccountByThumbprint(ctx, "tp-rolled")
	if err != nil {
		t.Fatalf("GetAccountByThumbprint(new): %v", err)
	}
	equal(t, "GetAccountByThumbprint(new)", got, want)
	if _, err := s.GetAccountByThumbprint(ctx, fx.account.KeyThumbprint); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccountByThumbprint(old) = %v, want ErrNotFound", err)
	}
	// The old thumbprint is free again.
	third := &store.Account{ID: "acct-third", DeviceID: fx.device.ID, KeyThumbprint: fx.account.KeyThumbprint,
		Status: store.StatusValid, CreatedAt: base}
	if err := s.CreateAccount(ctx, third); err != nil {
		t.Errorf("CreateAccount with a released thumbprint: %v", err)
	}
}

func testNilAndEmptySlices(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	tests := []struct {
		id      string
		contact []string
	}{
		{"acct-nil", nil},
		{"acct-empty", []string{}},
	}
	for _, tt := range tests {
		a := &store.Account{ID: tt.id, DeviceID: fx.device.ID, KeyThumbprint: "tp-" + tt.id,
			Contact: tt.contact, Status: store.StatusValid, CreatedAt: base}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		got, err := s.GetAccount(ctx, a.ID)
		if err != nil {
			t.Fatalf("GetAccount: %v", err)
		}
		if (got.Contact == nil) != (tt.contact == nil) || len(got.Contact) != 0 {
			t.Errorf("Contact stored as %#v came back as %#v", tt.contact, got.Contact)
		}
	}
}

func testOrderRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o, authzs := makeOrder(fx.account, "order-1", store.StatusInvalid, base.Add(time.Hour))
	o.Profile = "tlsserver"
	o.Replaces = "0123abcd"
	o.CertificateSerial = "feed"
	o.Error = &problem.Error{
		Kind:   problem.RejectedIdentifier,
		Detail: "some names are not yours",
		Status: 403,
		Subproblems: []*problem.Error{{
			Kind:       problem.Unauthorized,
			Detail:     "not your device",
			Identifier: &problem.Identifier{Type: "dns", Value: "other.lan.example"},
		}},
	}
	authzs[0].Challenges = []store.Challenge{
		{Type: "device-attest-01", Token: "tok-1", Status: store.StatusInvalid, Validated: base.Add(time.Minute),
			Error: &problem.Error{Kind: problem.IncorrectResponse, Detail: "bad attestation", Status: 400}},
		{Type: "dns-01", Token: "tok-2", Status: store.StatusPending},
	}
	if err := s.CreateOrder(ctx, o, authzs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	got, err := s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	want := normalized(o)
	want.Error = wireProblem(t, o.Error)
	equal(t, "GetOrder", got, want)
	checkTimes(t, got)
	for _, a := range authzs {
		got, err := s.GetAuthorization(ctx, a.ID)
		if err != nil {
			t.Fatalf("GetAuthorization %s: %v", a.ID, err)
		}
		want := normalized(a)
		for i := range want.Challenges {
			want.Challenges[i].Error = wireProblem(t, want.Challenges[i].Error)
		}
		equal(t, "GetAuthorization "+a.ID, got, want)
		checkTimes(t, got)
	}
}

func testCreateOrderFills(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o, authzs := makeOrder(fx.account, "", store.StatusPending, base)
	o.AuthorizationIDs = nil
	for _, a := range authzs {
		a.ID, a.OrderID, a.AccountID = "", "", ""
	}
	if err := s.CreateOrder(ctx, o, authzs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	if o.ID == "" || len(o.AuthorizationIDs) != len(authzs) {
		t.Fatalf("CreateOrder left ID %q and AuthorizationIDs %v", o.ID, o.AuthorizationIDs)
	}
	for i, a := range authzs {
		if a.ID == "" || a.ID != o.AuthorizationIDs[i] || a.OrderID != o.ID || a.AccountID != o.AccountID {
			t.Errorf("authorization %d = %+v, want filled from order %+v", i, a, o)
		}
		got, err := s.GetAuthorization(ctx, a.ID)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		equal(t, "GetAuthorization", got, normalized(a))
	}
	got, err := s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	equal(t, "GetOrder", got, normalized(o))
}

func testCreateOrderAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o, authzs := makeOrder(fx.account, "order-1", store.StatusPending, base)
	authzs[1].ID = authzs[0].ID
	o.AuthorizationIDs = []string{authzs[0].ID, authzs[0].ID}
	if err := s.CreateOrder(ctx, o, authzs); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateOrder with a repeated authorization ID = %v, want ErrConflict", err)
	}
	if _, err := s.GetOrder(ctx, o.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOrder after failed CreateOrder = %v, want ErrNotFound", err)
	}
	if _, err := s.GetAuthorization(ctx, authzs[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAuthorization after failed CreateOrder = %v, want ErrNotFound", err)
	}
}

func testUpdateOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o := mustOrder(t, s, fx.account, "order-1", store.StatusReady, base)

	changed := *o
	changed.Status = store.StatusValid
	changed.CertificateSerial = "beef"
	if err := s.UpdateOrder(ctx, &changed, store.StatusPending); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateOrder expecting pending on a ready order = %v, want ErrConflict", err)
	}
	got, err := s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	equal(t, "GetOrder after refused UpdateOrder", got, normalized(o))

	// Fields UpdateOrder does not write.
	changed.Profile = "other"
	changed.Identifiers = nil
	changed.Expires = base.Add(time.Hour)
	if err := s.UpdateOrder(ctx, &changed, store.StatusReady); err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	want := normalized(o)
	want.Status, want.CertificateSerial = store.StatusValid, "beef"
	got, err = s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	equal(t, "GetOrder after UpdateOrder", got, want)

	// The expected status is now valid; an error is written and cleared.
	changed.Status = store.StatusInvalid
	changed.Error = &problem.Error{Kind: problem.ServerInternal, Detail: "signer failed", Status: 500}
	if err := s.UpdateOrder(ctx, &changed, store.StatusReady); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateOrder expecting the old status = %v, want ErrConflict", err)
	}
	if err := s.UpdateOrder(ctx, &changed, store.StatusValid); err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	got, err = s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	want.Status, want.Error = store.StatusInvalid, wireProblem(t, changed.Error)
	equal(t, "GetOrder after UpdateOrder with an error", got, want)
	changed.Error = nil
	if err := s.UpdateOrder(ctx, &changed, store.StatusInvalid); err != nil {
		t.Fatalf("UpdateOrder: %v", err)
	}
	got, err = s.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	want.Error = nil
	equal(t, "GetOrder after clearing the error", got, want)
}

func testUpdateAuthorization(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o, authzs := makeOrder(fx.account, "order-1", store.StatusPending, base)
	if err := s.CreateOrder(ctx, o, authzs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	a := *authzs[0]
	a.Status = store.StatusValid
	a.Challenges = []store.Challenge{{Type: "device-attest-01", Token: "t", Status: store.StatusValid, Validated: base.Add(time.Second)}}
	// Fields UpdateAuthorization does not write.
	a.Identifier = store.Identifier{Type: "dns", Value: "changed"}
	a.Expires = base.Add(time.Hour)
	if err := s.UpdateAuthorization(ctx, &a); err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	want := normalized(authzs[0])
	want.Status = store.StatusValid
	want.Challenges = normalized(&a).Challenges
	got, err := s.GetAuthorization(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	equal(t, "GetAuthorization after UpdateAuthorization", got, want)
	checkTimes(t, got)
}

func testListOrderIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	// IDs that sort against creation order, so that the test tells the
	// two apart.
	ids := []string{"o-e", "o-d", "o-c", "o-b", "o-a"}
	for i, id := range ids {
		o, authzs := makeOrder(fx.account, id, store.StatusPending, base)
		o.CreatedAt = base.Add(time.Duration(i) * time.Second)
		if err := s.CreateOrder(ctx, o, authzs); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
	}
	mustOrder(t, s, other.account, "o-other", store.StatusPending, base)
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 2, ids[:2]},
		{ids[1], 2, ids[2:4]},
		{ids[3], 2, ids[4:]},
		{ids[4], 2, []string{}},
		{"", 10, ids},
		{"", 0, []string{}},
		{"o-other", 10, []string{}},
		{"missing", 10, []string{}},
	}
	for _, tt := range tests {
		got, err := s.ListOrderIDs(ctx, fx.account.ID, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("ListOrderIDs(after %q, limit %d): %v", tt.after, tt.limit, err)
		}
		if got == nil || !slices.Equal(got, tt.want) {
			t.Errorf("ListOrderIDs(after %q, limit %d) = %#v, want %#v", tt.after, tt.limit, got, tt.want)
		}
	}
}

func testListOrderIDsTies(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	want := map[string]bool{}
	for i := range 5 {
		o := mustOrder(t, s, fx.account, fmt.Sprintf("o-%d", (i*3)%5), store.StatusPending, base)
		want[o.ID] = true
	}
	seen := map[string]bool{}
	after := ""
	for range 10 {
		page, err := s.ListOrderIDs(ctx, fx.account.ID, after, 1)
		if err != nil {
			t.Fatalf("ListOrderIDs: %v", err)
		}
		if len(page) == 0 {
			break
		}
		if seen[page[0]] {
			t.Fatalf("ListOrderIDs returned %q twice", page[0])
		}
		seen[page[0]] = true
		after = page[0]
	}
	equal(t, "orders seen paging one by one through equal creation times", seen, want)
}

func testCountOpenOrders(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	later, earlier := base.Add(time.Hour), base.Add(-time.Hour)
	first := base.Add(30 * time.Minute)
	mustOrder(t, s, fx.account, "pending", store.StatusPending, later)
	mustOrder(t, s, fx.account, "ready", store.StatusReady, first)
	mustOrder(t, s, fx.account, "processing", store.StatusProcessing, later)
	mustOrder(t, s, fx.account, "valid", store.StatusValid, later)
	mustOrder(t, s, fx.account, "invalid", store.StatusInvalid, later)
	mustOrder(t, s, fx.account, "expired", store.StatusPending, earlier)
	mustOrder(t, s, other.account, "others", store.StatusPending, later)
	n, firstExpiry, err := s.CountOpenOrders(ctx, fx.account.ID, base)
	if err != nil {
		t.Fatalf("CountOpenOrders: %v", err)
	}
	if n != 3 {
		t.Errorf("CountOpenOrders = %d, want 3 (pending, ready, processing; not valid, invalid, expired or another account's)", n)
	}
	if !firstExpiry.Equal(first.Truncate(time.Microsecond)) {
		t.Errorf("CountOpenOrders: first expiry %v, want %v (the ready order's)", firstExpiry, first)
	}
	if n, firstExpiry, err := s.CountOpenOrders(ctx, "no-such-account", base); err != nil || n != 0 || !firstExpiry.IsZero() {
		t.Errorf("CountOpenOrders of an unknown account = %d, %v, %v; want 0, zero time, nil", n, firstExpiry, err)
	}
}

func testFailProcessingOrders(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	later := base.Add(time.Hour)
	mustOrder(t, s, fx.account, "processing-1", store.StatusProcessing, later)
	mustOrder(t, s, fx.account, "processing-2", store.StatusProcessing, later)
	mustOrder(t, s, fx.account, "ready", store.StatusReady, later)
	p := problem.New(problem.ServerInternal, "the issuer restarted while signing")
	n, err := s.FailProcessingOrders(ctx, p)
	if err != nil || n != 2 {
		t.Fatalf("FailProcessingOrders = %d, %v; want 2, nil", n, err)
	}
	for id, want := range map[string]store.Status{"processing-1": store.StatusInvalid, "processing-2": store.StatusInvalid, "ready": store.StatusReady} {
		o, err := s.GetOrder(ctx, id)
		if err != nil {
			t.Fatalf("GetOrder(%s): %v", id, err)
		}
		if o.Status != want {
			t.Errorf("order %s status = %s, want %s", id, o.Status, want)
		}
		if want == store.StatusInvalid && (o.Error == nil || o.Error.Kind != problem.ServerInternal || o.Error.Detail != p.Detail) {
			t.Errorf("order %s error = %+v, want %+v", id, o.Error, p)
		}
	}
	if n, err := s.FailProcessingOrders(ctx, p); err != nil || n != 0 {
		t.Errorf("second FailProcessingOrders = %d, %v; want 0, nil", n, err)
	}
}

func testCertificates(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	o := mustOrder(t, s, fx.account, "order-1", store.StatusValid, base)
	oo := mustOrder(t, s, other.account, "order-2", store.StatusValid, base)
	c1 := makeCertificate(o, "1f", base.Add(47*24*time.Hour))
	c1.CreatedAt = base.Add(2 * time.Second)
	c1.RevokedAt = base.Add(time.Hour)
	c1.Reason = 4
	c1.ReplacedBy = "order-next"
	c2 := makeCertificate(o, "2f", base.Add(47*24*time.Hour))
	c2.CreatedAt = base.Add(time.Second)
	c3 := makeCertificate(oo, "3f", base.Add(47*24*time.Hour))
	for _, c := range []*store.Certificate{c1, c2, c3} {
		if err := s.CreateCertificate(ctx, c); err != nil {
			t.Fatalf("CreateCertificate %s: %v", c.Serial, err)
		}
	}
	got, err := s.GetCertificate(ctx, c1.Serial)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	equal(t, "GetCertificate", got, normalized(c1))
	checkTimes(t, got)
	if !got.Revoked() {
		t.Errorf("Revoked() = false for a revoked certificate")
	}
	list, err := s.ListCertificates(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("ListCertificates: %v", err)
	}
	equal(t, "ListCertificates", list, []*store.Certificate{normalized(c2), normalized(c1)})

	for _, orderID := range []string{"order-a", "order-b"} {
		if err := s.SetCertificateReplacedBy(ctx, c2.Serial, orderID); err != nil {
			t.Fatalf("SetCertificateReplacedBy: %v", err)
		}
		got, err := s.GetCertificate(ctx, c2.Serial)
		if err != nil {
			t.Fatalf("GetCertificate: %v", err)
		}
		if got.ReplacedBy != orderID {
			t.Errorf("ReplacedBy = %q, want %q", got.ReplacedBy, orderID)
		}
	}
}

func testRevokeCertificate(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o := mustOrder(t, s, fx.account, "order-1", store.StatusValid, base)
	c := makeCertificate(o, "abc", base.Add(time.Hour))
	if err := s.CreateCertificate(ctx, c); err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	at := base.Add(time.Minute)
	if err := s.RevokeCertificate(ctx, c.Serial, 1, at); err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	want := normalized(c)
	want.RevokedAt, want.Reason = normTime(at), 1
	got, err := s.GetCertificate(ctx, c.Serial)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	equal(t, "GetCertificate after RevokeCertificate", got, want)
	if err := s.RevokeCertificate(ctx, c.Serial, 4, at.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second RevokeCertificate = %v, want ErrConflict", err)
	}
	got, err = s.GetCertificate(ctx, c.Serial)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	equal(t, "GetCertificate after second RevokeCertificate", got, want)
}

func testListRevoked(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o := mustOrder(t, s, fx.account, "order-1", store.StatusValid, base)
	now := base.Add(24 * time.Hour)
	certs := []struct {
		serial   string
		notAfter time.Time
		revoked  bool
		listed   bool
	}{
		{"01", now.Add(time.Hour), true, true},
		{"02", now.Add(-time.Second), true, false}, // expired
		{"03", now.Add(time.Hour), false, false},   // not revoked
		{"04", now, true, true},                    // expires at now: still valid
		{"05", now.Add(-time.Hour), false, false},  // neither
	}
	var want []store.RevokedCertificate
	for i, tc := range certs {
		c := makeCertificate(o, tc.serial, tc.notAfter)
		if err := s.CreateCertificate(ctx, c); err != nil {
			t.Fatalf("CreateCertificate: %v", err)
		}
		if !tc.revoked {
			continue
		}
		at := base.Add(time.Duration(i) * time.Minute)
		if err := s.RevokeCertificate(ctx, tc.serial, i, at); err != nil {
			t.Fatalf("RevokeCertificate: %v", err)
		}
		if tc.listed {
			want = append(want, store.RevokedCertificate{Serial: tc.serial, RevokedAt: normTime(at), Reason: i})
		}
	}
	got, err := s.ListRevoked(ctx, now)
	if err != nil {
		t.Fatalf("ListRevoked: %v", err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Serial < got[j].Serial })
	equal(t, "ListRevoked", got, want)
}

func testEmptyLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	devices, err := s.ListDevices(ctx, store.DeviceFilter{})
	if err != nil || devices == nil || len(devices) != 0 {
		t.Errorf("ListDevices = %#v, %v; want an empty, non-nil slice", devices, err)
	}
	accounts, err := s.ListAccountsByDevice(ctx, "missing")
	if err != nil || accounts == nil || len(accounts) != 0 {
		t.Errorf("ListAccountsByDevice = %#v, %v; want an empty, non-nil slice", accounts, err)
	}
	ids, err := s.ListOrderIDs(ctx, "missing", "", 10)
	if err != nil || ids == nil || len(ids) != 0 {
		t.Errorf("ListOrderIDs = %#v, %v; want an empty, non-nil slice", ids, err)
	}
	certs, err := s.ListCertificates(ctx, "missing")
	if err != nil || certs == nil || len(certs) != 0 {
		t.Errorf("ListCertificates = %#v, %v; want an empty, non-nil slice", certs, err)
	}
	revoked, err := s.ListRevoked(ctx, base)
	if err != nil || revoked == nil || len(revoked) != 0 {
		t.Errorf("ListRevoked = %#v, %v; want an empty, non-nil slice", revoked, err)
	}
}

func testNonces(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	if err := s.ConsumeNonce(ctx, "n1", exp); err != nil {
		t.Fatalf("ConsumeNonce: %v", err)
	}
	if err := s.ConsumeNonce(ctx, "n1", exp); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ConsumeNonce twice = %v, want ErrConflict", err)
	}
	if err := s.ConsumeNonce(ctx, "n2", exp); err != nil {
		t.Errorf("ConsumeNonce of another nonce: %v", err)
	}
}

func testSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.Secret(ctx, "hmac", []byte("first"))
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	equal(t, "first Secret", got, []byte("first"))
	got, err = s.Secret(ctx, "hmac", []byte("second"))
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	equal(t, "second Secret", got, []byte("first"))
	got, err = s.Secret(ctx, "other", []byte("third"))
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	equal(t, "Secret under another name", got, []byte("third"))
	err = s.Update(ctx, func(tx store.Tx) error {
		got, err = tx.Secret(ctx, "hmac", []byte("fourth"))
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	equal(t, "Secret inside Update", got, []byte("first"))
}

func testRateLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	check := func(what string, want time.Time) {
		t.Helper()
		got, err := s.LimitTAT(ctx, "orders:acct-1")
		if err != nil {
			t.Fatalf("LimitTAT %s: %v", what, err)
		}
		equal(t, "LimitTAT "+what, got, normTime(want))
		checkTimes(t, &got)
	}
	check("before any", time.Time{})
	for _, tat := range []time.Time{base, base.Add(time.Hour), base.Add(-time.Hour)} {
		if err := s.SetLimitTAT(ctx, "orders:acct-1", tat); err != nil {
			t.Fatalf("SetLimitTAT: %v", err)
		}
		check("after SetLimitTAT", tat)
	}
	if err := s.SetLimitTAT(ctx, "orders:acct-2", base.Add(time.Minute)); err != nil {
		t.Fatalf("SetLimitTAT: %v", err)
	}
	check("after setting another key", base.Add(-time.Hour))
	if err := s.SetLimitTAT(ctx, "orders:acct-1", time.Time{}); err != nil {
		t.Fatalf("SetLimitTAT(zero): %v", err)
	}
	check("after SetLimitTAT(zero)", time.Time{})
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetLimitTAT(ctx, "orders:acct-1", base); err != nil {
			return err
		}
		got, err := tx.LimitTAT(ctx, "orders:acct-1")
		if err != nil {
			return err
		}
		equal(t, "LimitTAT inside Update", got, normTime(base))
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	check("after Update", base)
}

func testSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	now := base.Add(time.Hour)
	for nonce, exp := range map[string]time.Time{"old-1": now.Add(-time.Second), "old-2": now.Add(-time.Hour), "fresh": now.Add(time.Minute)} {
		if err := s.ConsumeNonce(ctx, nonce, exp); err != nil {
			t.Fatalf("ConsumeNonce: %v", err)
		}
	}
	for key, tat := range map[string]time.Time{"old": now.Add(-time.Second), "fresh": now.Add(time.Minute)} {
		if err := s.SetLimitTAT(ctx, key, tat); err != nil {
			t.Fatalf("SetLimitTAT: %v", err)
		}
	}
	orders := []struct {
		id      string
		status  store.Status
		expires time.Time
		want    store.Status
	}{
		{"pending-expired", store.StatusPending, now.Add(-time.Second), store.StatusInvalid},
		{"ready-expired", store.StatusReady, now.Add(-time.Minute), store.StatusInvalid},
		{"valid-expired", store.StatusValid, now.Add(-time.Minute), store.StatusValid},
		{"processing-expired", store.StatusProcessing, now.Add(-time.Minute), store.StatusProcessing},
		{"pending-fresh", store.StatusPending, now.Add(time.Minute), store.StatusPending},
	}
	wantAuthz := map[string]store.Status{}
	for _, tc := range orders {
		o, authzs := makeOrder(fx.account, tc.id, tc.status, tc.expires)
		// One pending and one valid authorization in every order.
		authzs[0].Status, authzs[1].Status = store.StatusPending, store.StatusValid
		if err := s.CreateOrder(ctx, o, authzs); err != nil {
			t.Fatalf("CreateOrder: %v", err)
		}
		wantAuthz[authzs[0].ID] = store.StatusPending
		if tc.want == store.StatusInvalid {
			wantAuthz[authzs[0].ID] = store.StatusInvalid
		}
		wantAuthz[authzs[1].ID] = store.StatusValid
	}
	n, err := s.Sweep(ctx, now)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// Two nonces, one rate-limit time, two orders, their two pending
	// authorizations.
	if n != 7 {
		t.Errorf("Sweep = %d, want 7", n)
	}
	for key, want := range map[string]time.Time{"old": {}, "fresh": normTime(now.Add(time.Minute))} {
		got, err := s.LimitTAT(ctx, key)
		if err != nil {
			t.Fatalf("LimitTAT: %v", err)
		}
		equal(t, "LimitTAT after Sweep of "+key, got, want)
	}
	for _, tc := range orders {
		o, err := s.GetOrder(ctx, tc.id)
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		if o.Status != tc.want {
			t.Errorf("order %s after Sweep is %s, want %s", tc.id, o.Status, tc.want)
		}
	}
	for id, want := range wantAuthz {
		a, err := s.GetAuthorization(ctx, id)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		if a.Status != want {
			t.Errorf("authorization %s after Sweep is %s, want %s", id, a.Status, want)
		}
	}
	if err := s.ConsumeNonce(ctx, "old-1", now.Add(time.Hour)); err != nil {
		t.Errorf("ConsumeNonce of a swept nonce: %v", err)
	}
	if err := s.ConsumeNonce(ctx, "fresh", now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ConsumeNonce of an unexpired nonce after Sweep = %v, want ErrConflict", err)
	}
	if n, err := s.Sweep(ctx, now); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
	// Inside Update too.
	var inTx int
	err = s.Update(ctx, func(tx store.Tx) error {
		inTx, err = tx.Sweep(ctx, now.Add(2*time.Minute))
		return err
	})
	if err != nil || inTx != 4 {
		t.Errorf("Sweep inside Update = %d, %v; want 4 (nonce and rate limit fresh, order pending-fresh and its pending authorization)", inTx, err)
	}
}

func testUpdateCommits(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	d := &store.Device{ID: "dev-new", Label: "label-new", OwnerID: fx.owner.ID, Status: store.StatusActive, CreatedAt: base}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateDevice(ctx, d); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		got, err := tx.GetDevice(ctx, d.ID)
		if err != nil {
			return err
		}
		equal(t, "GetDevice inside Update", got, normalized(d))
		if err := tx.ConsumeNonce(ctx, "n1", base.Add(time.Hour)); err != nil {
			return err
		}
		return tx.UseEABKey(ctx, fx.key.KID, fx.account.ID, base)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDevice after Update: %v", err)
	}
	equal(t, "GetDevice after Update", got, normalized(d))
	if err := s.ConsumeNonce(ctx, "n1", base.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ConsumeNonce of a nonce consumed in Update = %v, want ErrConflict", err)
	}
	k, err := s.GetEABKey(ctx, fx.key.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	if k.AccountID != fx.account.ID {
		t.Errorf("EAB key after Update has account %q, want %q", k.AccountID, fx.account.ID)
	}
}

func testUpdateRollsBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	errStop := errors.New("stop")
	d := &store.Device{ID: "dev-new", Label: "label-new", OwnerID: fx.owner.ID, Status: store.StatusActive, CreatedAt: base}
	o, authzs := makeOrder(fx.account, "order-new", store.StatusPending, base)
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateDevice(ctx, d); err != nil {
			return err
		}
		if err := tx.CreateOrder(ctx, o, authzs); err != nil {
			return err
		}
		if err := tx.ConsumeNonce(ctx, "n1", base.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.UseEABKey(ctx, fx.key.KID, fx.account.ID, base); err != nil {
			return err
		}
		if _, err := tx.EnsureOwner(ctx, "carol"); err != nil {
			return err
		}
		return fmt.Errorf("giving up: %w", errStop)
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	assertRolledBack(t, s, fx, d.ID, o.ID, "n1", "carol")
}

func testUpdateRollsBackOnStoreError(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	if err := s.ConsumeNonce(ctx, "used", base.Add(time.Hour)); err != nil {
		t.Fatalf("ConsumeNonce: %v", err)
	}
	d := &store.Device{ID: "dev-new", Label: "label-new", OwnerID: fx.owner.ID, Status: store.StatusActive, CreatedAt: base}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateDevice(ctx, d); err != nil {
			return err
		}
		if err := tx.ConsumeNonce(ctx, "n1", base.Add(time.Hour)); err != nil {
			return err
		}
		return tx.ConsumeNonce(ctx, "used", base.Add(time.Hour))
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	assertRolledBack(t, s, fx, d.ID, "", "n1", "")
}

// assertRolledBack checks that nothing a failed Update wrote is visible.
func assertRolledBack(t *testing.T, s store.Store, fx *fixture, deviceID, orderID, nonce, owner string) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.GetDevice(ctx, deviceID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDevice after rollback = %v, want ErrNotFound", err)
	}
	if orderID != "" {
		if _, err := s.GetOrder(ctx, orderID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetOrder after rollback = %v, want ErrNotFound", err)
		}
	}
	if owner != "" {
		if _, err := s.GetOwnerByName(ctx, owner); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetOwnerByName after rollback = %v, want ErrNotFound", err)
		}
	}
	if err := s.ConsumeNonce(ctx, nonce, base.Add(time.Hour)); err != nil {
		t.Errorf("ConsumeNonce after rollback: %v", err)
	}
	k, err := s.GetEABKey(ctx, fx.key.KID)
	if err != nil {
		t.Fatalf("GetEABKey: %v", err)
	}
	equal(t, "EAB key after rollback", k, normalized(fx.key))
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	o := mustOrder(t, s, fx.account, "order-1", store.StatusPending, base)
	missingDevice := &store.Device{ID: "missing", Label: "missing"}
	missingAccount := &store.Account{ID: "missing", KeyThumbprint: "missing"}
	missingOrder := &store.Order{ID: "missing", Status: store.StatusValid}
	tests := []struct {
		name string
		call func() error
	}{
		{"GetOwner", func() error { _, err := s.GetOwner(ctx, "missing"); return err }},
		{"GetOwnerByName", func() error { _, err := s.GetOwnerByName(ctx, "missing"); return err }},
		{"GetDevice", func() error { _, err := s.GetDevice(ctx, "missing"); return err }},
		{"GetDeviceByLabel", func() error { _, err := s.GetDeviceByLabel(ctx, "missing"); return err }},
		{"GetEABKey", func() error { _, err := s.GetEABKey(ctx, "missing"); return err }},
		{"GetAccount", func() error { _, err := s.GetAccount(ctx, "missing"); return err }},
		{"GetAccountByThumbprint", func() error { _, err := s.GetAccountByThumbprint(ctx, "missing"); return err }},
		{"GetOrder", func() error { _, err := s.GetOrder(ctx, "missing"); return err }},
		{"GetAuthorization", func() error { _, err := s.GetAuthorization(ctx, "missing"); return err }},
		{"GetCertificate", func() error { _, err := s.GetCertificate(ctx, "missing"); return err }},
		{"UpdateDevice", func() error { return s.UpdateDevice(ctx, missingDevice) }},
		{"UseEABKey", func() error { return s.UseEABKey(ctx, "missing", fx.account.ID, base) }},
		{"UpdateAccount", func() error { return s.UpdateAccount(ctx, missingAccount) }},
		{"UpdateOrder", func() error { return s.UpdateOrder(ctx, missingOrder, store.StatusPending) }},
		{"UpdateAuthorization", func() error {
			return s.UpdateAuthorization(ctx, &store.Authorization{ID: "missing", Status: store.StatusValid})
		}},
		{"RevokeCertificate", func() error { return s.RevokeCertificate(ctx, "missing", 0, base) }},
		{"SetCertificateReplacedBy", func() error { return s.SetCertificateReplacedBy(ctx, "missing", "o") }},
		// References to rows that do not exist.
		{"CreateDevice of a missing owner", func() error {
			return s.CreateDevice(ctx, &store.Device{ID: "d", Label: "l", OwnerID: "missing", Status: store.StatusActive, CreatedAt: base})
		}},
		{"CreateEABKey of a missing device", func() error {
			return s.CreateEABKey(ctx, &store.EABKey{KID: "k", DeviceID: "missing", CreatedAt: base})
		}},
		{"CreateAccount of a missing device", func() error {
			return s.CreateAccount(ctx, &store.Account{ID: "a", DeviceID: "missing", KeyThumbprint: "t", Status: store.StatusValid, CreatedAt: base})
		}},
		{"CreateOrder of a missing account", func() error {
			o, authzs := makeOrder(&store.Account{ID: "missing", DeviceID: fx.device.ID}, "o-missing", store.StatusPending, base)
			return s.CreateOrder(ctx, o, authzs)
		}},
		{"CreateCertificate of a missing order", func() error {
			c := makeCertificate(o, "abc", base)
			c.OrderID = "missing"
			return s.CreateCertificate(ctx, c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", tt.name, err)
			}
		})
	}
}

func testConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	o := mustOrder(t, s, fx.account, "order-1", store.StatusPending, base)
	c := makeCertificate(o, "abc", base.Add(time.Hour))
	if err := s.CreateCertificate(ctx, c); err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	if err := s.RevokeCertificate(ctx, c.Serial, 0, base); err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	if err := s.UseEABKey(ctx, fx.key.KID, fx.account.ID, base); err != nil {
		t.Fatalf("UseEABKey: %v", err)
	}
	if err := s.DisableDeviceEABKeys(ctx, other.device.ID, base); err != nil {
		t.Fatalf("DisableDeviceEABKeys: %v", err)
	}
	if err := s.ConsumeNonce(ctx, "n1", base.Add(time.Hour)); err != nil {
		t.Fatalf("ConsumeNonce: %v", err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"CreateDevice with a used ID", func() error {
			d := *fx.device
			d.Label = "fresh-label"
			return s.CreateDevice(ctx, &d)
		}},
		{"CreateDevice with a used label", func() error {
			d := *fx.device
			d.ID = "fresh-id"
			return s.CreateDevice(ctx, &d)
		}},
		{"CreateEABKey with a used KID", func() error {
			k := *other.key
			return s.CreateEABKey(ctx, &k)
		}},
		{"UseEABKey of a used key", func() error { return s.UseEABKey(ctx, fx.key.KID, other.account.ID, base) }},
		{"UseEABKey of a disabled key", func() error { return s.UseEABKey(ctx, other.key.KID, other.account.ID, base) }},
		{"CreateAccount with a used ID", func() error {
			a := *fx.account
			a.KeyThumbprint = "fresh-thumbprint"
			return s.CreateAccount(ctx, &a)
		}},
		{"CreateAccount with a used thumbprint", func() error {
			a := *fx.account
			a.ID = "fresh-id"
			return s.CreateAccount(ctx, &a)
		}},
		{"UpdateAccount to another account's thumbprint", func() error {
			a := *fx.account
			a.KeyThumbprint = other.account.KeyThumbprint
			return s.UpdateAccount(ctx, &a)
		}},
		{"CreateOrder with a used ID", func() error {
			o2, authzs := makeOrder(fx.account, o.ID, store.StatusPending, base)
			for _, a := range authzs {
				a.ID = "fresh-" + a.ID
			}
			return s.CreateOrder(ctx, o2, authzs)
		}},
		{"CreateOrder with a used authorization ID", func() error {
			o2, _ := makeOrder(fx.account, "order-2", store.StatusPending, base)
			_, authzs := makeOrder(fx.account, o.ID, store.StatusPending, base)
			return s.CreateOrder(ctx, o2, authzs)
		}},
		{"UpdateOrder from an unexpected status", func() error {
			o2 := *o
			o2.Status = store.StatusReady
			return s.UpdateOrder(ctx, &o2, store.StatusReady)
		}},
		{"CreateCertificate with a used serial", func() error {
			c2 := makeCertificate(o, c.Serial, base.Add(time.Hour))
			return s.CreateCertificate(ctx, c2)
		}},
		{"RevokeCertificate twice", func() error { return s.RevokeCertificate(ctx, c.Serial, 1, base) }},
		{"ConsumeNonce twice", func() error { return s.ConsumeNonce(ctx, "n1", base.Add(time.Hour)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s = %v, want ErrConflict", tt.name, err)
			}
		})
	}
	// Inside Update the same errors come back, and fn's caller sees them.
	err := s.Update(ctx, func(tx store.Tx) error { return tx.ConsumeNonce(ctx, "n1", base.Add(time.Hour)) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("ConsumeNonce twice inside Update = %v, want ErrConflict", err)
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	fx := newFixture(t, s, "a")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetAccount(ctx, fx.account.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("GetAccount with a cancelled context = %v, want context.Canceled", err)
	}
	if err := s.ConsumeNonce(ctx, "n1", base); !errors.Is(err, context.Canceled) {
		t.Errorf("ConsumeNonce with a cancelled context = %v, want context.Canceled", err)
	}
	err := s.Update(ctx, func(tx store.Tx) error { return tx.ConsumeNonce(ctx, "n2", base) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context = %v, want context.Canceled", err)
	}
	for _, nonce := range []string{"n1", "n2"} {
		if err := s.ConsumeNonce(t.Context(), nonce, base); err != nil {
			t.Errorf("ConsumeNonce(%s) after the cancelled calls: %v", nonce, err)
		}
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, 3*workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d := &store.Device{
					ID: fmt.Sprintf("d-%d-%d", w, i), Label: fmt.Sprintf("l-%d-%d", w, i),
					OwnerID: fx.owner.ID, Status: store.StatusActive, CreatedAt: base,
				}
				errs <- s.Update(ctx, func(tx store.Tx) error {
					if err := tx.ConsumeNonce(ctx, "u-"+d.ID, base.Add(time.Hour)); err != nil {
						return err
					}
					if err := tx.CreateDevice(ctx, d); err != nil {
						return err
					}
					_, err := tx.GetDevice(ctx, d.ID)
					return err
				})
				// Direct calls interleave with other workers' Updates.
				errs <- s.ConsumeNonce(ctx, "d-"+d.ID, base.Add(time.Hour))
				_, err := s.GetAccount(ctx, fx.account.ID)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	devices, err := s.ListDevices(ctx, store.DeviceFilter{OwnerID: fx.owner.ID})
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	if len(devices) != workers*each+1 {
		t.Errorf("ListDevices found %d devices, want %d", len(devices), workers*each+1)
	}
}

// fixture is an owner with one device, its EAB key and its account.
type fixture struct {
	owner   *store.Owner
	device  *store.Device
	key     *store.EABKey
	account *store.Account
}

func newFixture(t *testing.T, s store.Store, name string) *fixture {
	t.Helper()
	ctx := t.Context()
	fx := &fixture{owner: mustOwner(t, s, "owner-"+name)}
	fx.device = &store.Device{
		ID: "dev-" + name, Label: "label-" + name, OwnerID: fx.owner.ID, Name: "Device " + name,
		Model: "model-" + name, KeyThumbprint: "device-tp-" + name, Status: store.StatusActive, CreatedAt: base,
	}
	if err := s.CreateDevice(ctx, fx.device); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	fx.key = &store.EABKey{KID: "kid-" + name, DeviceID: fx.device.ID, HMACKey: []byte("hmac-" + name), CreatedAt: base}
	if err := s.CreateEABKey(ctx, fx.key); err != nil {
		t.Fatalf("CreateEABKey: %v", err)
	}
	fx.account = &store.Account{
		ID: "acct-" + name, DeviceID: fx.device.ID, KeyThumbprint: "tp-" + name,
		KeyJWK: []byte(`{"kty":"EC","crv":"P-256","x":"` + name + `"}`), Contact: []string{"mailto:" + name + "@example.org"},
		Status: store.StatusValid, EABKID: fx.key.KID, CreatedAt: base,
	}
	if err := s.CreateAccount(ctx, fx.account); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return fx
}

func mustOwner(t *testing.T, s store.Store, name string) *store.Owner {
	t.Helper()
	o, err := s.EnsureOwner(t.Context(), name)
	if err != nil {
		t.Fatalf("EnsureOwner: %v", err)
	}
	return o
}

// makeOrder returns an order of a with two authorizations (L.Z and *.L.Z),
// the first in the order's status (pending for a ready or later order, as
// it would have been), the second valid.
func makeOrder(a *store.Account, id string, status store.Status, expires time.Time) (*store.Order, []*store.Authorization) {
	name := "label-" + id + ".lan.example"
	o := &store.Order{
		ID: id, AccountID: a.ID, DeviceID: a.DeviceID, Status: status,
		Identifiers:      []store.Identifier{{Type: "dns", Value: name}, {Type: "dns", Value: "*." + name}},
		AuthorizationIDs: []string{id + "-authz-1", id + "-authz-2"},
		Expires:          expires,
		CreatedAt:        base,
	}
	first := status
	if first != store.StatusPending && first != store.StatusInvalid {
		first = store.StatusValid
	}
	authzs := []*store.Authorization{
		{
			ID: id + "-authz-1", AccountID: a.ID, OrderID: id, Identifier: store.Identifier{Type: "dns", Value: name},
			Status: first, Expires: expires,
			Challenges: []store.Challenge{{Type: "device-attest-01", Token: "token-" + id, Status: first}},
		},
		{
			ID: id + "-authz-2", AccountID: a.ID, OrderID: id, Identifier: store.Identifier{Type: "dns", Value: name},
			Wildcard: true, Status: store.StatusValid, Expires: expires.Add(time.Minute), Challenges: []store.Challenge{},
		},
	}
	return o, authzs
}

func mustOrder(t *testing.T, s store.Store, a *store.Account, id string, status store.Status, expires time.Time) *store.Order {
	t.Helper()
	o, authzs := makeOrder(a, id, status, expires)
	if err := s.CreateOrder(t.Context(), o, authzs); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o
}

func makeCertificate(o *store.Order, serial string, notAfter time.Time) *store.Certificate {
	return &store.Certificate{
		Serial: serial, DeviceID: o.DeviceID, AccountID: o.AccountID, OrderID: o.ID,
		Names:     []string{o.Identifiers[0].Value, o.Identifiers[1].Value},
		Profile:   "default",
		NotBefore: notAfter.Add(-47 * 24 * time.Hour),
		NotAfter:  notAfter,
		ChainPEM:  []byte("-----BEGIN CERTIFICATE-----\n" + serial + "\n-----END CERTIFICATE-----\n"),
		CreatedAt: base,
	}
}

// wireProblem returns p as it reads back after being stored: problem
// errors are kept in their JSON (problem document) form.
func wireProblem(t *testing.T, p *problem.Error) *problem.Error {
	t.Helper()
	if p == nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal problem: %v", err)
	}
	var out *problem.Error
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal problem: %v", err)
	}
	return out
}

// equal fails t unless got and want are deeply equal.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, dump(got), dump(want))
	}
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

var timeType = reflect.TypeFor[time.Time]()

// normalized returns a deep copy of *v with every time as the store returns
// it: UTC, truncated to the microsecond.
func normalized[T any](v *T) *T {
	return mapTimes(reflect.ValueOf(v).Elem(), normTime).Addr().Interface().(*T)
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// checkTimes fails t for every time in *v that is not in UTC or has a
// fraction of a microsecond.
func checkTimes[T any](t *testing.T, v *T) {
	t.Helper()
	mapTimes(reflect.ValueOf(v).Elem(), func(at time.Time) time.Time {
		if !at.IsZero() && (at.Location() != time.UTC || at.Nanosecond()%1000 != 0) {
			t.Errorf("time %v is not UTC truncated to the microsecond", at)
		}
		return at
	})
}

// mapTimes returns a deep copy of v (exported fields only) with fn applied
// to every time in it.
func mapTimes(v reflect.Value, fn func(time.Time) time.Time) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch {
	case v.Type() == timeType:
		out.Set(reflect.ValueOf(fn(v.Interface().(time.Time))))
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			out.Set(mapTimes(v.Elem(), fn).Addr())
		}
	case v.Kind() == reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(mapTimes(v.Index(i), fn))
			}
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(mapTimes(v.Field(i), fn))
			}
		}
	default:
		out.Set(v)
	}
	return out
}

// A write that fails inside Update (a conflict) fails alone: fn may go
// on, read and write, and what it does after commits, as on SQLite.
func testUpdateGoesOnAfterConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	exp := base.Add(time.Hour)
	if err := s.ConsumeNonce(ctx, "spent", exp); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := s.Update(ctx, func(tx store.Tx) error {
		runs++
		if err := tx.ConsumeNonce(ctx, "fresh-1", exp); err != nil {
			return err
		}
		if err := tx.ConsumeNonce(ctx, "spent", exp); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("ConsumeNonce of a spent nonce inside Update = %v, want ErrConflict", err)
		}
		if _, err := tx.GetDevice(ctx, fx.device.ID); err != nil {
			return fmt.Errorf("GetDevice after a conflict: %w", err)
		}
		return tx.ConsumeNonce(ctx, "fresh-2", exp)
	})
	if err != nil {
		t.Fatalf("Update that went on after a conflict: %v (fn ran %d times)", err, runs)
	}
	for _, n := range []string{"fresh-1", "fresh-2"} {
		if err := s.ConsumeNonce(ctx, n, exp); !errors.Is(err, store.ErrConflict) {
			t.Errorf("ConsumeNonce(%q) after the Update spent it = %v, want ErrConflict", n, err)
		}
	}
}
