package web_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

func TestStockClientDevice(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	b.want(b.get("/devices/new"), http.StatusOK, "Create device and key")
	b.want(b.post("/devices/new", url.Values{"name": {"  "}}), http.StatusBadRequest, "Give the device a name")
	resp := b.post("/devices/new", url.Values{"name": {"Hall NAS"}})
	b.want(resp, http.StatusOK, "Hall NAS is ready", "certbot certonly", "lego", "acme_eab", "uacme -y", f.ip+"/acme/directory")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with the EAB key may be cached")
	}
	kid := regexp.MustCompile(`--eab-kid ([A-Za-z0-9]+)`).FindStringSubmatch(b.last)
	if kid == nil {
		t.Fatal("no EAB key ID in the certbot line")
	}
	k, err := f.iss.Store().GetEABKey(t.Context(), kid[1])
	if err != nil {
		t.Fatalf("the shown EAB key is not stored: %v", err)
	}
	b.want(b.get("/"), http.StatusOK, "Hall NAS", "stock ACME client", "waiting for a certificate")
	page := "/devices/" + k.DeviceID
	b.want(b.get(page), http.StatusOK, "Hall NAS", "None issued yet", "New EAB key", "stock ACME client")
	// What applies to an agent only is not offered.
	for _, agentOnly := range []string{"Addresses in DNS", "Web apps allowed", "/grants", "/publish", "no address reported"} {
		if strings.Contains(b.last, agentOnly) {
			t.Errorf("a stock device's page offers %q", agentOnly)
		}
	}
	b.want(b.post(page+"/eab-key", nil), http.StatusOK, "A new EAB key for Hall NAS", "certbot certonly", "no longer work")
	kid2 := regexp.MustCompile(`--eab-kid ([A-Za-z0-9]+)`).FindStringSubmatch(b.last)
	if kid2 == nil || kid2[1] == kid[1] {
		t.Fatalf("the new key page shows key %v, the first was %s", kid2, kid[1])
	}
	if old, _ := f.iss.Store().GetEABKey(t.Context(), kid[1]); !old.Disabled {
		t.Error("the first, unused key still works")
	}
}

func TestDevicePage(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	d := newDevice(t, f)
	d.start()
	approveInBrowser(t, b, d, "approve")
	dev, err := f.iss.Store().GetDeviceByLabel(t.Context(), d.label())
	if err != nil {
		t.Fatal(err)
	}
	page := "/devices/" + dev.ID
	b.want(b.get(page), http.StatusOK, "livingroom-tv", "Aurora TV 55", d.label()+".lan.test")

	b.want(b.post(page+"/rename", url.Values{"name": {"Living room TV"}}), http.StatusOK, "The device was renamed", "Living room TV")
	b.want(b.get(page), http.StatusOK, `value="default" aria-describedby="publish-help" checked`, "Zone default (answers)", "<legend>")
	b.want(b.post(page+"/publish", url.Values{"publish": {"off"}}), http.StatusOK, "The DNS choice is saved", `value="off" checked`)
	if dd, err := f.iss.Store().GetDeviceDNS(t.Context(), dev.ID); err != nil || dd.Publish != store.PublishOff {
		t.Errorf("after choosing off: %+v, %v", dd, err)
	}
	b.want(b.post(page+"/publish", url.Values{"publish": {"maybe"}}), http.StatusBadRequest, "Choose the zone")
	b.want(b.post(page+"/grants", url.Values{"origins": {"https://App.Vendor.example:443/\nhttps://app.vendor.example\nhttp://x.example"}}),
		http.StatusBadRequest, "only https origins")
	b.want(b.post(page+"/grants", url.Values{"origins": {"https://App.Vendor.example:443/\nhttps://app.vendor.example, https://other.example:8443"}}),
		http.StatusOK, "allowed origins are saved", "https://app.vendor.example\nhttps://other.example:8443\n")
	// Revoking and unpairing ask first, saying what happens and when.
	b.want(b.post(page+"/revoke-certificates", nil), http.StatusOK, "Revoke the certificates of Living room TV?",
		"stays paired", "within a minute", `name="confirm" value="yes"`, "Cancel")
	b.want(b.post(page+"/revoke-certificates", url.Values{"confirm": {"yes"}}), http.StatusOK, "certificates are revoked", "within a minute")
	b.want(b.post(page+"/unpair", nil), http.StatusOK, "Unpair Living room TV?", "cannot be undone", "within a minute")
	if got, _ := f.iss.Store().GetDevice(t.Context(), dev.ID); got.Status != store.StatusActive {
		t.Errorf("device after unpair's first step: %s, want still active", got.Status)
	}
	b.want(b.post(page+"/unpair", url.Values{"confirm": {"yes"}}), http.StatusOK, "The device is unpaired", "unpaired", "History", "Remove from the list")
	if got, _ := f.iss.Store().GetDevice(t.Context(), dev.ID); got.Status != store.StatusRevoked {
		t.Errorf("device after unpair: %s, want revoked", got.Status)
	}
	// The page keeps the device's history; the list says unpaired, never
	// "paired" beside it.
	for _, what := range []string{"approve", "rename", "grants", "unpair"} {
		if !strings.Contains(b.last, `<span class="tag">`+what+`</span>`) {
			t.Errorf("the device's history lacks %s", what)
		}
	}
	b.want(b.get("/"), http.StatusOK, "Living room TV", "unpaired")
	if strings.Contains(b.last, "· paired") {
		t.Error("the list calls an unpaired device paired")
	}
	b.want(b.post(page+"/unpair", url.Values{"confirm": {"yes"}}), http.StatusConflict, "already unpaired")
	b.get(page)
	b.want(b.post(page+"/remove", nil), http.StatusOK, "removed from the list")
	if strings.Contains(b.last, "Living room TV") {
		t.Error("the list still shows a removed device")
	}
	b.want(b.get(page), http.StatusOK, "Living room TV", "unpaired")
	b.want(b.get("/audit"), http.StatusOK, "rename", "grants", "revoke", "unpair", "remove")
}

func TestTrustPage(t *testing.T) {
	t.Parallel()
	f := start(t)
	b := f.browser(t)
	b.want(b.get("/trust"), http.StatusOK, "Trust this issuer", `href="/ca/root.crt"`, `href="/ca/root.pem"`, "SHA-256 fingerprint")
	resp := b.get("/ca/root.crt")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkix-cert" {
		t.Errorf("root.crt: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}

func TestReachedByIP(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.base = f.ip
	b.want(b.get("/login"), http.StatusOK, "Passkeys are tied to a host name", f.base+"/login")
	// The move to the host name keeps the page and its query, such as the
	// setup link's token.
	b.want(b.get("/trust?token=abc"), http.StatusOK, `href="`+f.base+`/trust?token=abc"`)
	b.want(b.post("/login/passkey/begin", nil), http.StatusBadRequest, "Passkeys need the issuer's host name")
	b.base = f.base
	b.get("/login")
	if regexp.MustCompile(`tied to a host name`).MatchString(b.last) {
		t.Error("the page by name warns about the IP address")
	}
}

// TestDeviceReportedError checks that the last error a device reported
// shows, escaped and with its time, on its owner's list and device page,
// to no other owner, and goes away when the device clears it.
func TestDeviceReportedError(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	f.addUser(t, "bob", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	b.get("/devices/new")
	b.want(b.post("/devices/new", url.Values{"name": {"Hall NAS"}}), http.StatusOK, "Hall NAS is ready")
	kid := regexp.MustCompile(`--eab-kid ([A-Za-z0-9]+)`).FindStringSubmatch(b.last)
	if kid == nil {
		t.Fatal("no EAB key ID in the certbot line")
	}
	st := f.iss.Store()
	k, err := st.GetEABKey(t.Context(), kid[1])
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	report := &store.DeviceStatus{DeviceID: k.DeviceID, LastError: `new order: <script>alert("x")</script>`, At: at}
	if err := st.SetDeviceStatus(t.Context(), report); err != nil {
		t.Fatal(err)
	}
	page := "/devices/" + k.DeviceID
	shown := []string{"Last error", "new order: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "reported by the device, 7 Dec 2026 01:02 UTC"}
	for _, path := range []string{"/", page} {
		b.want(b.get(path), http.StatusOK, shown...)
		if strings.Contains(b.last, "<script>alert") {
			t.Errorf("%s shows the device's error unescaped", path)
		}
	}

	bob := f.browser(t)
	bob.login("bob")
	bob.want(bob.get("/"), http.StatusOK)
	if strings.Contains(bob.last, "alert") {
		t.Error("another owner's list shows the device's error")
	}
	bob.want(bob.get(page), http.StatusNotFound)

	report.LastError, report.At = "", at.Add(time.Hour)
	if err := st.SetDeviceStatus(t.Context(), report); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", page} {
		b.want(b.get(path), http.StatusOK, "Hall NAS")
		if strings.Contains(b.last, "reported by the device") {
			t.Errorf("%s still shows an error the device cleared", path)
		}
	}
}

// TestLinksABrowserCanOpen checks that the device list and page link only
// to address-names a browser can open, on the port the device reported:
// no IPv6 link-local address (a URL cannot carry its zone), and loopback
// only for a browser on loopback.
func TestLinksABrowserCanOpen(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	b := f.browser(t)
	b.login("alice")
	d := newDevice(t, f)
	d.start()
	approveInBrowser(t, b, d, "approve")
	dev, err := f.iss.Store().GetDeviceByLabel(t.Context(), d.label())
	if err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("127.0.0.1")}
	if err := f.iss.Store().SetDeviceAddresses(t.Context(), dev.ID, addrs); err != nil {
		t.Fatal(err)
	}
	// The device serves HTTPS on 8443: the links carry the port.
	if err := f.iss.Store().SetDevicePort(t.Context(), dev.ID, 8443); err != nil {
		t.Fatal(err)
	}
	lan := `href="https://192-168-1-20.` + d.label() + `.lan.test:8443/"`
	lo := `href="https://127-0-0-1.` + d.label() + `.lan.test:8443/"`
	for _, path := range []string{"/", "/devices/" + dev.ID} {
		// This test's browser is on loopback, beside the issuer.
		b.want(b.get(path), http.StatusOK, lan, lo, "fe80::1")
		if strings.Contains(b.last, "https://fe80-") {
			t.Errorf("%s links to a link-local address", path)
		}
	}
}
