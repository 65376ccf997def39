package devices

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAdd(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	c, err := Add(ctx, st, "lan.test", " alice ", "Living room TV", now)
	if err != nil {
		t.Fatal(err)
	}
	if !names.ValidLabel(c.Device.Label) {
		t.Errorf("label %q is not a valid label", c.Device.Label)
	}
	want := []string{c.Device.Label + ".lan.test", "*." + c.Device.Label + ".lan.test"}
	if strings.Join(c.Names, " ") != strings.Join(want, " ") {
		t.Errorf("names = %v, want %v", c.Names, want)
	}
	if c.Owner.Name != "alice" {
		t.Errorf("owner = %q, want alice (trimmed)", c.Owner.Name)
	}
	key, err := base64.RawURLEncoding.DecodeString(c.HMACKey)
	if err != nil || len(key) != 32 {
		t.Errorf("HMAC key %q: %d bytes, err %v; want 32 bytes of base64url", c.HMACKey, len(key), err)
	}
	k, err := st.GetEABKey(ctx, c.KID)
	if err != nil {
		t.Fatal(err)
	}
	if k.DeviceID != c.Device.ID || string(k.HMACKey) != string(key) || !k.UsedAt.IsZero() {
		t.Errorf("stored EAB key = %+v, want unused, bound to %s", k, c.Device.ID)
	}
	// A second device of the same owner reuses the owner.
	c2, err := Add(ctx, st, "lan.test", "alice", "NAS", now)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Owner.ID != c.Owner.ID || c2.Device.Label == c.Device.Label {
		t.Errorf("second device: owner %s (want %s), label %s (must differ)", c2.Owner.ID, c.Owner.ID, c2.Device.Label)
	}
	for _, bad := range [][2]string{{"", "TV"}, {"alice", " "}} {
		if _, err := Add(ctx, st, "lan.test", bad[0], bad[1], now); err == nil {
			t.Errorf("Add(owner %q, name %q) succeeded, want an error", bad[0], bad[1])
		}
	}
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	c, err := Add(ctx, st, "lan.test", "alice", "TV", now)
	if err != nil {
		t.Fatal(err)
	}
	acct := &store.Account{ID: store.NewID(now), DeviceID: c.Device.ID, KeyThumbprint: "thumb", KeyJWK: []byte(`{}`), Status: store.StatusValid, EABKID: c.KID, CreatedAt: now}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	order := &store.Order{ID: store.NewID(now), AccountID: acct.ID, DeviceID: c.Device.ID, Status: store.StatusValid,
		Identifiers: []store.Identifier{{Type: "dns", Value: c.Names[0]}}, Profile: "default", Expires: now.Add(time.Hour), CreatedAt: now}
	if err := st.CreateOrder(ctx, order, nil); err != nil {
		t.Fatal(err)
	}
	certs := []*store.Certificate{
		{Serial: "1a", NotAfter: now.Add(time.Hour)},
		{Serial: "2b", NotAfter: now.Add(-time.Hour)}, // expired: left alone
	}
	for _, cert := range certs {
		cert.DeviceID, cert.AccountID, cert.OrderID, cert.NotBefore, cert.CreatedAt = c.Device.ID, acct.ID, order.ID, now.Add(-2*time.Hour), now
		cert.Names, cert.ChainPEM, cert.Profile = c.Names, []byte("pem"), "default"
		if err := st.CreateCertificate(ctx, cert); err != nil {
			t.Fatal(err)
		}
	}
	// A second, unused EAB key must stop working too.
	if err := st.CreateEABKey(ctx, &store.EABKey{KID: "spare", DeviceID: c.Device.ID, HMACKey: []byte("k"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	r, err := Revoke(ctx, st, c.Device.Label, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Certificates != 1 || r.Accounts != 1 || r.Device.Status != store.StatusRevoked {
		t.Errorf("Revoke = %+v, want 1 certificate, 1 account, device revoked", r)
	}
	if got, _ := st.GetCertificate(ctx, "1a"); !got.Revoked() || got.Reason != ReasonCessationOfOperation {
		t.Errorf("certificate 1a: revoked %v reason %d, want revoked with reason %d", got.Revoked(), got.Reason, ReasonCessationOfOperation)
	}
	if got, _ := st.GetAccount(ctx, acct.ID); got.Status != store.StatusRevoked {
		t.Errorf("account status = %s, want revoked", got.Status)
	}
	if err := st.UseEABKey(ctx, "spare", "other", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UseEABKey of a revoked device's spare key: err = %v, want ErrConflict", err)
	}
	if d, _ := st.GetDeviceByLabel(ctx, c.Device.Label); d.Status != store.StatusRevoked || !d.RevokedAt.Equal(now) {
		t.Errorf("device = %+v, want revoked at %v", d, now)
	}

	if _, err := Revoke(ctx, st, c.Device.Label, now); !errors.Is(err, ErrAlreadyRevoked) {
		t.Errorf("second Revoke: err = %v, want ErrAlreadyRevoked", err)
	}
	if _, err := Revoke(ctx, st, "nosuchlabel", now); err == nil || !strings.Contains(err.Error(), "device list") {
		t.Errorf("Revoke of an unknown label: err = %v, want one that points at 'device list'", err)
	}
}

func TestSetPublish(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	alice, err := st.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.EnsureOwner(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Device{Label: "label-a", OwnerID: alice.ID, Name: "TV", Status: store.StatusActive}
	if err := st.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := SetPublish(ctx, st, Actor{OwnerID: bob.ID, Name: "bob"}, d.ID, store.PublishOn); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob sets alice's device: %v, want ErrNotFound", err)
	}
	if err := SetPublish(ctx, st, Actor{OwnerID: alice.ID, Name: "alice"}, d.ID, "sometimes"); err == nil {
		t.Error("an unknown choice was accepted")
	}
	if err := SetPublish(ctx, st, Actor{OwnerID: alice.ID, Name: "alice"}, d.ID, store.PublishOff); err != nil {
		t.Fatal(err)
	}
	if dd, err := st.GetDeviceDNS(ctx, d.ID); err != nil || dd.Publish != store.PublishOff {
		t.Errorf("after alice's choice: %+v, %v", dd, err)
	}
	log, err := AuditLog(ctx, st, Actor{OwnerID: alice.ID}, "", 10)
	if err != nil || len(log) != 1 || log[0].Action != AuditPublish || log[0].Detail != "off" {
		t.Errorf("audit log = %+v, %v; want one publish entry", log, err)
	}
}

// TestDeviceLimitPerOwner: an owner at the limit adds no device, by the
// web UI's AddLimited or by an approved pairing; revoked devices do not
// count, other owners are not affected, and the operator's Add is not
// limited.
func TestDeviceLimitPerOwner(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	var first *Credentials
	for i := range 2 {
		c, err := AddLimited(ctx, st, "lan.test", "alice", "tv", 2, now)
		if err != nil {
			t.Fatalf("device %d: %v", i+1, err)
		}
		first = cmp.Or(first, c)
	}
	if _, err := AddLimited(ctx, st, "lan.test", "alice", "tv", 2, now); !errors.Is(err, ErrTooManyDevices) {
		t.Errorf("third device = %v, want ErrTooManyDevices", err)
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		_, err := AddPaired(ctx, tx, first.Owner.ID, "tv", "m", "labelabelabelabelabelabela", "tp", 2, now)
		return err
	})
	if !errors.Is(err, ErrTooManyDevices) {
		t.Errorf("paired third device = %v, want ErrTooManyDevices", err)
	}
	if _, err := AddLimited(ctx, st, "lan.test", "bob", "tv", 2, now); err != nil {
		t.Errorf("bob's device: %v", err)
	}
	third, err := Add(ctx, st, "lan.test", "alice", "tv", now)
	if err != nil {
		t.Fatalf("the operator's Add: %v", err)
	}
	for _, c := range []*Credentials{first, third} {
		if _, err := Revoke(ctx, st, c.Device.Label, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := AddLimited(ctx, st, "lan.test", "alice", "tv", 2, now); err != nil {
		t.Errorf("a device after two were revoked: %v", err)
	}
}
