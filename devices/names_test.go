package devices

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// TestSetShortName checks the owner's short names: only the owner sets
// one, it must be a valid label, a second device cannot take one in use,
// and revoking a device frees its name.
func TestSetShortName(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	alice, _ := st.EnsureOwner(ctx, "alice")
	bob, _ := st.EnsureOwner(ctx, "bob")
	tv := &store.Device{Label: "label-tv", OwnerID: alice.ID, Name: "TV", Status: store.StatusActive}
	other := &store.Device{Label: "label-other", OwnerID: bob.ID, Name: "Bob's TV", Status: store.StatusActive}
	for _, d := range []*store.Device{tv, other} {
		if err := st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	asAlice, asBob := Actor{OwnerID: alice.ID, Name: "alice"}, Actor{OwnerID: bob.ID, Name: "bob"}
	if err := SetShortName(ctx, st, asBob, tv.ID, "tv", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob names alice's device: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"tv.lan", "-tv", "hub", "123", "a--b", "x_y"} {
		if err := SetShortName(ctx, st, asAlice, tv.ID, bad, false); err == nil {
			t.Errorf("short name %q was accepted", bad)
		}
	}
	if err := SetShortName(ctx, st, asAlice, tv.ID, "TV", true); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.GetDeviceShortName(ctx, tv.ID); n != (store.ShortName{Name: "tv", MDNS: true}) {
		t.Errorf("short name %+v, want tv with mDNS", n)
	}
	if err := SetShortName(ctx, st, asBob, other.ID, "tv", false); !errors.Is(err, ErrShortNameTaken) {
		t.Errorf("bob takes tv in use: %v, want ErrShortNameTaken", err)
	}
	if _, err := Revoke(ctx, st, tv.Label, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := SetShortName(ctx, st, asBob, other.ID, "tv", false); err != nil {
		t.Errorf("bob takes tv after alice's device was revoked: %v", err)
	}
	log, err := AuditLog(ctx, st, asAlice, "", 10)
	if err != nil || len(log) == 0 || log[len(log)-1].Action != AuditShortName || log[len(log)-1].Detail != "tv (and .local)" {
		t.Errorf("audit log = %+v, %v; want the short name entry", log, err)
	}
}
