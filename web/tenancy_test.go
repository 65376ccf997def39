package web_test

import (
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// TestTenancy walks every web route that takes an object as owner B
// against owner A's objects: each is refused (404, as for a missing
// object) and changes nothing. An admin sees them all.
func TestTenancy(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := t.Context()
	alice := f.addUser(t, "alice", store.RoleOwner)
	f.addUser(t, "bob", store.RoleOwner)
	f.addUser(t, "root", store.RoleAdmin)

	// Alice's objects: a paired device, a stock-client device, a passkey
	// and audit entries.
	a := f.browser(t)
	a.login("alice")
	d := newDevice(t, f)
	d.start()
	approveInBrowser(t, a, d, "approve")
	stock, err := devices.Add(ctx, f.iss.Store(), "lan.test", "alice", "Alice's NAS", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	paired, err := f.iss.Store().GetDeviceByLabel(ctx, d.label())
	if err != nil {
		t.Fatal(err)
	}
	a.get("/devices/" + paired.ID)
	a.want(a.post("/devices/"+paired.ID+"/grants", url.Values{"origins": {"https://app.alice.example"}}), http.StatusOK, "https://app.alice.example")
	pk := &store.Passkey{ID: []byte("alice-key"), UserID: alice.ID, Name: "Alice's phone", Data: []byte(`{}`)}
	if err := f.iss.Store().CreatePasskey(ctx, pk); err != nil {
		t.Fatal(err)
	}

	b := f.browser(t)
	b.login("bob")
	b.want(b.get("/"), http.StatusOK, "No devices yet")
	for _, d := range []*store.Device{paired, stock.Device} {
		if strings.Contains(b.last, d.Label) || strings.Contains(b.last, html.EscapeString(d.Name)) {
			t.Errorf("bob's device list shows alice's %s", d.Name)
		}
		b.want(b.get("/devices/"+d.ID), http.StatusNotFound)
		for _, action := range []struct {
			path string
			form url.Values
		}{
			{"/rename", url.Values{"name": {"Bob's now"}}},
			{"/revoke-certificates", nil},
			{"/revoke-certificates", url.Values{"confirm": {"yes"}}},
			{"/unpair", url.Values{"confirm": {"yes"}}},
			{"/remove", nil},
			{"/eab-key", nil},
			{"/grants", url.Values{"origins": {"https://evil.example"}}},
			{"/publish", url.Values{"publish": {"on"}}},
		} {
			b.get("/")
			b.want(b.post("/devices/"+d.ID+action.path, action.form), http.StatusNotFound)
		}
		got, err := f.iss.Store().GetDevice(ctx, d.ID)
		if err != nil || got.Name != d.Name || got.Status != store.StatusActive {
			t.Errorf("alice's %s after bob's attempts: %+v, %v", d.Name, got, err)
		}
		if dd, err := f.iss.Store().GetDeviceDNS(ctx, d.ID); err != nil || dd.Publish != store.PublishDefault {
			t.Errorf("alice's %s DNS choice after bob's attempt: %+v, %v", d.Name, dd, err)
		}
	}
	if g, _ := f.iss.Store().GetGrants(ctx, paired.ID); len(g.Origins) != 1 || g.Origins[0] != "https://app.alice.example" {
		t.Errorf("alice's grants after bob's attempt: %v", g.Origins)
	}
	// Alice's decided pairing cannot be approved again by bob.
	b.get("/device")
	b.want(b.post("/device", url.Values{"user_code": {d.auth.UserCode}}), http.StatusBadRequest, "already approved or denied")
	b.want(b.post("/device/approve", url.Values{"user_code": {d.auth.UserCode}}), http.StatusBadRequest, "already approved or denied")
	b.want(b.post("/device/deny", url.Values{"user_code": {d.auth.UserCode}}), http.StatusBadRequest, "already approved or denied")
	// Nor can bob remove alice's passkey, or read alice's audit log.
	b.get("/account")
	b.want(b.post("/account/passkeys/"+base64.RawURLEncoding.EncodeToString(pk.ID)+"/delete", nil), http.StatusNotFound)
	if ks, _ := f.iss.Store().ListPasskeys(ctx, alice.ID); len(ks) != 1 {
		t.Errorf("alice has %d passkeys after bob's attempt, want 1", len(ks))
	}
	b.want(b.get("/audit"), http.StatusOK)
	for _, s := range []string{"livingroom-tv", "app.alice.example", ">alice<"} {
		if strings.Contains(b.last, s) {
			t.Errorf("bob's audit log shows %q", s)
		}
	}

	// The admin sees and reaches everything.
	r := f.browser(t)
	r.login("root")
	r.want(r.get("/"), http.StatusOK, paired.Label, stock.Device.Label, "owner alice")
	r.want(r.get("/devices/"+paired.ID), http.StatusOK, "https://app.alice.example")
	r.want(r.get("/audit"), http.StatusOK, "livingroom-tv", "app.alice.example")
	r.want(r.post("/devices/"+stock.Device.ID+"/rename", url.Values{"name": {"Hall NAS"}}), http.StatusOK, "Hall NAS", "renamed")
}
