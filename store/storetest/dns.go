package storetest

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// dnsTests are the cases of the DNS area, run by Run.
var dnsTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"DeviceAddresses", testDeviceAddresses},
	{"DevicePublish", testDevicePublish},
	{"DevicePort", testDevicePort},
	{"TXTRecords", testTXTRecords},
	{"DNSVersion", testDNSVersion},
	{"DNSSnapshot", testDNSSnapshot},
	{"DNSChanges", testDNSChanges},
}

func testDeviceAddresses(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	got, err := s.GetDeviceDNS(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceDNS before any report: %v", err)
	}
	equal(t, "GetDeviceDNS before any report", got, &store.DeviceDNS{
		DeviceID: fx.device.ID, Label: fx.device.Label, Active: true,
	})

	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("fd00::20")}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, addrs); err != nil {
		t.Fatalf("SetDeviceAddresses: %v", err)
	}
	got, err = s.GetDeviceDNS(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceDNS: %v", err)
	}
	equal(t, "GetDeviceDNS", got, &store.DeviceDNS{
		DeviceID: fx.device.ID, Label: fx.device.Label, Addresses: addrs, Active: true,
	})

	// A second report replaces the first; an empty one clears it.
	one := []netip.Addr{netip.MustParseAddr("10.0.0.7")}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, one); err != nil {
		t.Fatalf("SetDeviceAddresses again: %v", err)
	}
	if got, _ = s.GetDeviceDNS(ctx, fx.device.ID); got == nil || !slices.Equal(got.Addresses, one) {
		t.Errorf("addresses after a second report = %+v, want %v", got, one)
	}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, nil); err != nil {
		t.Fatalf("SetDeviceAddresses empty: %v", err)
	}
	if got, _ = s.GetDeviceDNS(ctx, fx.device.ID); got == nil || got.Addresses != nil {
		t.Errorf("addresses after an empty report = %+v, want none", got)
	}

	if err := s.SetDeviceAddresses(ctx, "no-such-device", one); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDeviceAddresses of an unknown device = %v, want ErrNotFound", err)
	}
	if _, err := s.GetDeviceDNS(ctx, "no-such-device"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeviceDNS of an unknown device = %v, want ErrNotFound", err)
	}
}

func testDevicePublish(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20")}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, addrs); err != nil {
		t.Fatalf("SetDeviceAddresses: %v", err)
	}
	for _, p := range []store.Publish{store.PublishOff, store.PublishOn, store.PublishDefault} {
		if err := s.SetDevicePublish(ctx, fx.device.ID, p); err != nil {
			t.Fatalf("SetDevicePublish(%q): %v", p, err)
		}
		got, err := s.GetDeviceDNS(ctx, fx.device.ID)
		if err != nil {
			t.Fatalf("GetDeviceDNS: %v", err)
		}
		// The choice leaves the addresses alone.
		equal(t, "GetDeviceDNS after SetDevicePublish", got, &store.DeviceDNS{
			DeviceID: fx.device.ID, Label: fx.device.Label, Addresses: addrs, Publish: p, Active: true,
		})
	}
	// A choice made before any report keeps the addresses empty.
	other := newFixture(t, s, "b")
	if err := s.SetDevicePublish(ctx, other.device.ID, store.PublishOn); err != nil {
		t.Fatalf("SetDevicePublish: %v", err)
	}
	got, err := s.GetDeviceDNS(ctx, other.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceDNS: %v", err)
	}
	equal(t, "GetDeviceDNS of a device that never reported", got, &store.DeviceDNS{
		DeviceID: other.device.ID, Label: other.device.Label, Publish: store.PublishOn, Active: true,
	})
	if err := s.SetDevicePublish(ctx, "no-such-device", store.PublishOn); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDevicePublish of an unknown device = %v, want ErrNotFound", err)
	}
}

func testDevicePort(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "a")
	// A port reported before any address keeps the addresses empty.
	if err := s.SetDevicePort(ctx, fx.device.ID, 8443); err != nil {
		t.Fatalf("SetDevicePort: %v", err)
	}
	got, err := s.GetDeviceDNS(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceDNS: %v", err)
	}
	equal(t, "GetDeviceDNS after SetDevicePort", got, &store.DeviceDNS{
		DeviceID: fx.device.ID, Label: fx.device.Label, Active: true, Port: 8443,
	})
	// Addresses and the publish choice leave it alone, and it them.
	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20")}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, addrs); err != nil {
		t.Fatalf("SetDeviceAddresses: %v", err)
	}
	if err := s.SetDevicePublish(ctx, fx.device.ID, store.PublishOff); err != nil {
		t.Fatalf("SetDevicePublish: %v", err)
	}
	if err := s.SetDevicePort(ctx, fx.device.ID, 0); err != nil {
		t.Fatalf("SetDevicePort 0: %v", err)
	}
	if got, _ = s.GetDeviceDNS(ctx, fx.device.ID); got == nil || got.Port != 0 || !slices.Equal(got.Addresses, addrs) || got.Publish != store.PublishOff {
		t.Errorf("after addresses, publish and port 0: %+v", got)
	}
	if err := s.SetDevicePort(ctx, fx.device.ID, 4443); err != nil {
		t.Fatalf("SetDevicePort: %v", err)
	}
	if got, _ = s.GetDeviceDNS(ctx, fx.device.ID); got == nil || got.Port != 4443 || !slices.Equal(got.Addresses, addrs) {
		t.Errorf("after port 4443: %+v", got)
	}
	if err := s.SetDevicePort(ctx, "no-such-device", 8443); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDevicePort of an unknown device = %v, want ErrNotFound", err)
	}
}

func testTXTRecords(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	name := "_acme-challenge.label-a.lan.example"
	later := now.Add(time.Hour)
	for _, v := range []string{"token-2", "token-1"} {
		if err := s.PutTXT(ctx, name, v, later); err != nil {
			t.Fatalf("PutTXT: %v", err)
		}
	}
	if err := s.PutTXT(ctx, "_acme-challenge.old.lan.example", "gone", now.Add(-time.Minute)); err != nil {
		t.Fatalf("PutTXT expired: %v", err)
	}
	snap, err := s.DNSSnapshot(ctx, now)
	if err != nil {
		t.Fatalf("DNSSnapshot: %v", err)
	}
	want := []store.TXTRecord{
		{Name: name, Value: "token-1", Expires: normTime(later)},
		{Name: name, Value: "token-2", Expires: normTime(later)},
	}
	equal(t, "TXT in the snapshot", snap.TXT, want)

	// Putting a record again moves its expiry.
	sooner := now.Add(time.Minute)
	if err := s.PutTXT(ctx, name, "token-1", sooner); err != nil {
		t.Fatalf("PutTXT again: %v", err)
	}
	if err := s.DeleteTXT(ctx, name, "token-2"); err != nil {
		t.Fatalf("DeleteTXT: %v", err)
	}
	if err := s.DeleteTXT(ctx, name, "never-there"); err != nil {
		t.Errorf("DeleteTXT of a missing record: %v", err)
	}
	if snap, err = s.DNSSnapshot(ctx, now); err != nil {
		t.Fatalf("DNSSnapshot: %v", err)
	}
	equal(t, "TXT after a put and a delete", snap.TXT,
		[]store.TXTRecord{{Name: name, Value: "token-1", Expires: normTime(sooner)}})
	if snap, err = s.DNSSnapshot(ctx, sooner.Add(time.Second)); err != nil {
		t.Fatalf("DNSSnapshot: %v", err)
	}
	equal(t, "TXT after expiry", snap.TXT, []store.TXTRecord{})
}

func testDNSVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	last, err := s.DNSVersion(ctx)
	if err != nil {
		t.Fatalf("DNSVersion: %v", err)
	}
	// grows fails t unless the counter grew since the last call.
	grows := func(what string) {
		t.Helper()
		v, err := s.DNSVersion(ctx)
		if err != nil {
			t.Fatalf("DNSVersion after %s: %v", what, err)
		}
		if v <= last {
			t.Errorf("DNSVersion after %s = %d, want more than %d", what, v, last)
		}
		last = v
	}
	fx := newFixture(t, s, "a")
	grows("CreateDevice")
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, []netip.Addr{netip.MustParseAddr("10.1.2.3")}); err != nil {
		t.Fatal(err)
	}
	grows("SetDeviceAddresses")
	if err := s.SetDevicePublish(ctx, fx.device.ID, store.PublishOn); err != nil {
		t.Fatal(err)
	}
	grows("SetDevicePublish")
	if err := s.PutTXT(ctx, "_acme-challenge.x.lan.example", "v", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	grows("PutTXT")
	if err := s.DeleteTXT(ctx, "_acme-challenge.x.lan.example", "v"); err != nil {
		t.Fatal(err)
	}
	grows("DeleteTXT")
	d := *fx.device
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := s.UpdateDevice(ctx, &d); err != nil {
		t.Fatal(err)
	}
	grows("a revocation")

	// Reads and rolled-back writes leave it alone.
	if _, err := s.DNSSnapshot(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("roll back")
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutTXT(ctx, "_acme-challenge.y.lan.example", "v", time.Now().Add(time.Hour)); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v, want the rollback error", err)
	}
	if v, err := s.DNSVersion(ctx); err != nil || v != last {
		t.Errorf("DNSVersion after reads and a rollback = %d, %v, want %d", v, err, last)
	}
}

func testDNSSnapshot(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newFixture(t, s, "a")
	b := newFixture(t, s, "b")
	c := newFixture(t, s, "c")
	addrs := []netip.Addr{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("192.168.0.9")}
	if err := s.SetDeviceAddresses(ctx, a.device.ID, addrs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDevicePublish(ctx, c.device.ID, store.PublishOff); err != nil {
		t.Fatal(err)
	}
	revoked := *b.device
	revoked.Status = store.StatusRevoked
	if err := s.UpdateDevice(ctx, &revoked); err != nil {
		t.Fatal(err)
	}
	before, err := s.DNSVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.DNSSnapshot(ctx, time.Now())
	if err != nil {
		t.Fatalf("DNSSnapshot: %v", err)
	}
	if snap.Version != before {
		t.Errorf("snapshot version = %d, want %d", snap.Version, before)
	}
	// a and c were created at the same time: the order is by ID then.
	equal(t, "snapshot devices", snap.Devices, []store.DeviceDNS{
		{DeviceID: a.device.ID, Label: a.device.Label, Addresses: addrs, Active: true},
		{DeviceID: c.device.ID, Label: c.device.Label, Publish: store.PublishOff, Active: true},
	})
	equal(t, "snapshot TXT", snap.TXT, []store.TXTRecord{})

	// Inside a transaction too.
	err = s.Update(ctx, func(tx store.Tx) error {
		in, err := tx.DNSSnapshot(ctx, time.Now())
		if err == nil && len(in.Devices) != 2 {
			t.Errorf("snapshot in Update has %d devices, want 2", len(in.Devices))
		}
		return err
	})
	if err != nil {
		t.Errorf("DNSSnapshot in Update: %v", err)
	}
}

func testDNSChanges(t *testing.T, s store.Store) {
	ctx := t.Context()
	since, err := s.DNSVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// changes returns the devices changed since the last call, by label,
	// and checks that the delta's counter is the store's.
	changes := func(what string) map[string]store.DeviceDNS {
		t.Helper()
		delta, err := s.DNSChanges(ctx, since, time.Now())
		if err != nil {
			t.Fatalf("DNSChanges after %s: %v", what, err)
		}
		v, _ := s.DNSVersion(ctx)
		if delta.Version != v || delta.Version < since {
			t.Errorf("DNSChanges after %s: Version %d, want the counter %d", what, delta.Version, v)
		}
		out := map[string]store.DeviceDNS{}
		for _, d := range delta.Devices {
			out[d.Label] = d
		}
		since = delta.Version
		return out
	}
	fx := newFixture(t, s, "a")
	other := newFixture(t, s, "b")
	got := changes("CreateDevice")
	if len(got) != 2 || !got[fx.device.Label].Active || !got[other.device.Label].Active {
		t.Errorf("DNSChanges after two CreateDevice = %+v, want both devices, active", got)
	}
	if got := changes("nothing"); len(got) != 0 {
		t.Errorf("DNSChanges with nothing changed = %+v, want none", got)
	}

	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20")}
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, addrs); err != nil {
		t.Fatal(err)
	}
	got = changes("SetDeviceAddresses")
	equal(t, "DNSChanges after SetDeviceAddresses", got, map[string]store.DeviceDNS{
		fx.device.Label: {DeviceID: fx.device.ID, Label: fx.device.Label, Addresses: addrs, Active: true},
	})

	// The same report again writes nothing: no change, no counter.
	v0, _ := s.DNSVersion(ctx)
	if err := s.SetDeviceAddresses(ctx, fx.device.ID, addrs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDevicePublish(ctx, fx.device.ID, store.PublishDefault); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.DNSVersion(ctx); v != v0 {
		t.Errorf("DNSVersion after an unchanged report = %d, want %d", v, v0)
	}
	if got := changes("an unchanged report"); len(got) != 0 {
		t.Errorf("DNSChanges after an unchanged report = %+v, want none", got)
	}

	d := *other.device
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := s.UpdateDevice(ctx, &d); err != nil {
		t.Fatal(err)
	}
	got = changes("a revocation")
	if c, ok := got[other.device.Label]; len(got) != 1 || !ok || c.Active {
		t.Errorf("DNSChanges after a revocation = %+v, want the revoked device, inactive", got)
	}
	if err := s.PutTXT(ctx, "_acme-challenge.x.lan.example", "v", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	delta, err := s.DNSChanges(ctx, since, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(delta.Devices) != 0 || len(delta.TXT) != 1 || delta.Version <= since {
		t.Errorf("DNSChanges after PutTXT = %+v, want no device, the TXT record and a newer counter", delta)
	}
}
