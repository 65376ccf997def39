package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// testShortNames checks the owners' short names: none at first, set,
// replaced, unique among devices (a second device cannot take one in
// use), in the DNS snapshot and bumping the DNS counter, removed, and an
// unknown device refused.
func testShortNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "names")
	other := newFixture(t, s, "names-other")
	got, err := s.GetDeviceShortName(ctx, fx.device.ID)
	if err != nil || got != (store.ShortName{}) {
		t.Fatalf("GetDeviceShortName before any: %+v, %v; want zero", got, err)
	}
	if err := s.SetDeviceShortName(ctx, "no-such-device", store.ShortName{Name: "tv"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDeviceShortName of an unknown device: %v, want ErrNotFound", err)
	}
	if err := s.SetDeviceShortName(ctx, "no-such-device", store.ShortName{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing the short name of an unknown device: %v, want ErrNotFound", err)
	}
	v0, _ := s.DNSVersion(ctx)
	if err := s.SetDeviceShortName(ctx, fx.device.ID, store.ShortName{Name: "tv", MDNS: true}); err != nil {
		t.Fatalf("SetDeviceShortName: %v", err)
	}
	if v, _ := s.DNSVersion(ctx); v <= v0 {
		t.Errorf("DNS version %d after setting a short name, want above %d", v, v0)
	}
	if got, _ := s.GetDeviceShortName(ctx, fx.device.ID); got != (store.ShortName{Name: "tv", MDNS: true}) {
		t.Errorf("GetDeviceShortName = %+v, want tv with mDNS", got)
	}
	if err := s.SetDeviceShortName(ctx, other.device.ID, store.ShortName{Name: "tv"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second device taking tv: %v, want ErrConflict", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.SetDeviceShortName(ctx, fx.device.ID, store.ShortName{Name: "living-room"})
	}); err != nil {
		t.Fatalf("SetDeviceShortName in Update: %v", err)
	}
	if err := s.SetDeviceShortName(ctx, other.device.ID, store.ShortName{Name: "tv"}); err != nil {
		t.Errorf("the second device taking tv once it is free: %v", err)
	}
	snap, err := s.DNSSnapshot(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, d := range snap.Devices {
		names[d.DeviceID] = d.ShortName
	}
	if names[fx.device.ID] != "living-room" || names[other.device.ID] != "tv" {
		t.Errorf("short names in the DNS snapshot: %v", names)
	}
	if d, _ := s.GetDeviceDNS(ctx, fx.device.ID); d == nil || d.ShortName != "living-room" {
		t.Errorf("GetDeviceDNS = %+v, want short name living-room", d)
	}
	v1, _ := s.DNSVersion(ctx)
	if err := s.SetDeviceShortName(ctx, fx.device.ID, store.ShortName{}); err != nil {
		t.Fatalf("removing a short name: %v", err)
	}
	if v, _ := s.DNSVersion(ctx); v <= v1 {
		t.Errorf("DNS version %d after removing a short name, want above %d", v, v1)
	}
	if got, _ := s.GetDeviceShortName(ctx, fx.device.ID); got != (store.ShortName{}) {
		t.Errorf("short name after removal: %+v", got)
	}
}

// testNameCheck checks the device's name check: kept beside its last
// error, each report replacing only its own part.
func testNameCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "namecheck")
	if err := s.SetDeviceNameCheck(ctx, "no-such-device", store.NameCheck{Result: store.NameCheckOK}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDeviceNameCheck of an unknown device: %v, want ErrNotFound", err)
	}
	check := store.NameCheck{Result: store.NameCheckFiltered, Name: "192-168-1-20.l.lan.test", Detail: "no address in the answer", At: base}
	if err := s.SetDeviceNameCheck(ctx, fx.device.ID, check); err != nil {
		t.Fatalf("SetDeviceNameCheck: %v", err)
	}
	got, err := s.GetDeviceStatus(ctx, fx.device.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "name check", normalized(&got.NameCheck), normalized(&check))
	if got.LastError != "" {
		t.Errorf("last error %q after a name check alone", got.LastError)
	}
	st := &store.DeviceStatus{DeviceID: fx.device.ID, LastError: "order failed", At: base.Add(time.Hour)}
	if err := s.SetDeviceStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetDeviceStatus(ctx, fx.device.ID)
	equal(t, "name check after a status report", normalized(&got.NameCheck), normalized(&check))
	check = store.NameCheck{Result: store.NameCheckOK, Name: check.Name, At: base.Add(2 * time.Hour)}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetDeviceNameCheck(ctx, fx.device.ID, check) }); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetDeviceStatus(ctx, fx.device.ID)
	equal(t, "second name check", normalized(&got.NameCheck), normalized(&check))
	if got.LastError != "order failed" {
		t.Errorf("last error %q after a name check, want it kept", got.LastError)
	}
}
