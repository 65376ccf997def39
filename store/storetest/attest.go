package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// testAttestPolicies checks the rules per model: none at first, set,
// replaced inside a transaction, listed by model, deleted (twice without
// error), times in UTC to the microsecond.
func testAttestPolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetAttestPolicy(ctx, "tv"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestPolicy before any: %v, want ErrNotFound", err)
	}
	if ps, err := s.ListAttestPolicies(ctx); err != nil || ps == nil || len(ps) != 0 {
		t.Errorf("ListAttestPolicies before any: %v, %v; want an empty slice", ps, err)
	}
	tv := &store.AttestPolicy{Model: "tv", Rule: store.AttestRequired, Actor: "alice", UpdatedAt: base}
	nas := &store.AttestPolicy{Model: "", Rule: store.AttestOptional, Actor: "cli"}
	for _, p := range []*store.AttestPolicy{tv, nas} {
		if err := s.SetAttestPolicy(ctx, p); err != nil {
			t.Fatalf("SetAttestPolicy(%q): %v", p.Model, err)
		}
	}
	if nas.UpdatedAt.IsZero() {
		t.Errorf("SetAttestPolicy left UpdatedAt zero")
	}
	got, err := s.GetAttestPolicy(ctx, "tv")
	if err != nil {
		t.Fatalf("GetAttestPolicy: %v", err)
	}
	checkTimes(t, got)
	equal(t, "policy", normalized(got), normalized(tv))

	tv2 := &store.AttestPolicy{Model: "tv", Rule: store.AttestOff, Actor: "bob", UpdatedAt: base.Add(time.Hour)}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetAttestPolicy(ctx, tv2) }); err != nil {
		t.Fatalf("SetAttestPolicy in Update: %v", err)
	}
	ps, err := s.ListAttestPolicies(ctx)
	if err != nil || len(ps) != 2 {
		t.Fatalf("ListAttestPolicies: %d rules, %v; want 2", len(ps), err)
	}
	equal(t, "first policy (model \"\")", normalized(ps[0]), normalized(nas))
	equal(t, "replaced policy", normalized(ps[1]), normalized(tv2))

	for range 2 {
		if err := s.DeleteAttestPolicy(ctx, "tv"); err != nil {
			t.Errorf("DeleteAttestPolicy: %v", err)
		}
	}
	if _, err := s.GetAttestPolicy(ctx, "tv"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestPolicy after delete: %v, want ErrNotFound", err)
	}
}

// testDeviceAttestation checks a device's last attestation: none at first,
// set, replaced, and an unknown device refused.
func testDeviceAttestation(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "attest")
	if _, err := s.GetDeviceAttestation(ctx, fx.device.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeviceAttestation before any: %v, want ErrNotFound", err)
	}
	if err := s.SetDeviceAttestation(ctx, &store.DeviceAttestation{DeviceID: "no-such-device", Format: "tpm"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDeviceAttestation of an unknown device: %v, want ErrNotFound", err)
	}
	a := &store.DeviceAttestation{
		DeviceID: fx.device.ID, Format: "tpm", Root: "CN=Test TPM CA", RootFingerprint: "ab12",
		Model: "tv", Identifier: store.Identifier{Type: "permanent-identifier", Value: "SN-1"},
	}
	if err := s.SetDeviceAttestation(ctx, a); err != nil {
		t.Fatalf("SetDeviceAttestation: %v", err)
	}
	if a.AttestedAt.IsZero() {
		t.Errorf("SetDeviceAttestation left AttestedAt zero")
	}
	got, err := s.GetDeviceAttestation(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceAttestation: %v", err)
	}
	checkTimes(t, got)
	equal(t, "attestation", normalized(got), normalized(a))

	b := &store.DeviceAttestation{
		DeviceID: fx.device.ID, Format: "packed", Root: "CN=Maker", RootFingerprint: "cd34", Model: "tv",
		Identifier: store.Identifier{Type: "hardware-module", Value: "HM/1.2.3"}, AttestedAt: base,
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetDeviceAttestation(ctx, b) }); err != nil {
		t.Fatalf("SetDeviceAttestation in Update: %v", err)
	}
	if got, err = s.GetDeviceAttestation(ctx, fx.device.ID); err != nil {
		t.Fatalf("GetDeviceAttestation: %v", err)
	}
	equal(t, "replaced attestation", normalized(got), normalized(b))
}
