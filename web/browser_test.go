package web_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/internal/browsertest"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/store"
)

// chromium starts a headless Chromium that trusts only f's root and
// reaches localhost and the zone on loopback.
func (f *fixture) chromium(t *testing.T, width, height int) context.Context {
	t.Helper()
	return browsertest.Start(t, browsertest.Options{
		RootPEM:           f.iss.RootPEM(),
		HostResolverRules: "MAP localhost 127.0.0.1, MAP *.lan.test 127.0.0.1",
		Width:             width, Height: height,
	})
}

// waitText waits until the page's main text contains want.
func waitText(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	var text string
	if !testwait.Until(15*time.Second, func() bool {
		var err error
		text, err = chromedp.Run(ctx, chromedp.Text("body"))
		return err == nil && strings.Contains(text, want)
	}) {
		t.Fatalf("page never showed %q; it shows:\n%s", want, text)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func loginInChromium(t *testing.T, ctx context.Context, f *fixture, name string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(f.base+"/login"),
		chromedp.WaitVisible(`input[name="name"]`),
		chromedp.SendKeys(`input[name="name"]`, name),
		chromedp.SendKeys(`input[name="password"]`, testPassword),
		chromedp.Submit(`input[name="password"]`),
	)
	waitText(t, ctx, "Log out")
}

// TestPasskeyInChromium registers a passkey on the account page with a
// virtual authenticator (CDP WebAuthn domain), logs out, and logs in with
// the passkey alone.
func TestPasskeyInChromium(t *testing.T) {
	t.Parallel()
	f := start(t)
	u := f.addUser(t, "alice", store.RoleOwner)
	ctx := f.chromium(t, 1000, 800)
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		t.Fatal(err)
	}
	loginInChromium(t, ctx, f, "alice")
	do(t, ctx,
		chromedp.Navigate(f.base+"/account"),
		chromedp.WaitVisible(`#passkey-register`),
		chromedp.SendKeys(`#passkey-name`, "Test laptop"),
		chromedp.Click(`#passkey-register`),
	)
	// A session alone does not add a passkey: the password is asked for.
	waitText(t, ctx, "Enter your password to add a passkey")
	do(t, ctx,
		chromedp.SendKeys(`#passkey-password`, testPassword),
		chromedp.Click(`#passkey-register`),
	)
	waitText(t, ctx, "The passkey is registered")
	waitText(t, ctx, "Test laptop")
	keys, err := f.iss.Store().ListPasskeys(t.Context(), u.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("passkeys after registration: %v, %v", keys, err)
	}

	do(t, ctx, chromedp.Click(`button.linkish`))
	waitText(t, ctx, "Log in with a passkey")
	do(t, ctx, chromedp.Click(`#passkey-login`))
	waitText(t, ctx, "Log out")
	keys, _ = f.iss.Store().ListPasskeys(t.Context(), u.ID)
	if len(keys) != 1 || keys[0].LastUsedAt.IsZero() {
		t.Errorf("passkey after login: %+v, want it marked used", keys)
	}
	es, _ := f.iss.Store().ListAudit(t.Context(), store.AuditFilter{OwnerID: u.OwnerID})
	found := false
	for _, e := range es {
		found = found || (e.Action == "login" && e.Detail == "passkey")
	}
	if !found {
		t.Error("the passkey login is not in the audit log")
	}
}

// TestScreenshots takes the screenshots of docs/screenshots/ with headless
// Chromium: login, code entry, approval, the device list (desktop and
// phone), a device's page, a stock-client device's configuration, the
// confirmation before unpairing and the audit log, each checked by
// axe-core. With LANTLS_SCREENSHOTS=1 it writes them there; otherwise to a
// temporary directory, so the pages are still rendered and checked.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	dir := t.TempDir()
	if os.Getenv("LANTLS_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	browsertest.RequireAxe(t)
	ctx := f.chromium(t, 1100, 760)
	shot := func(name string) {
		t.Helper()
		browsertest.CheckAccessible(t, ctx, name)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Earlier devices, so the list looks lived in: a TV with a
	// certificate and two addresses, and a NAS for certbot.
	ctxStore := t.Context()
	b := f.browser(t)
	b.login("alice")
	tv := newDevice(t, f)
	tv.start()
	approveInBrowser(t, b, tv, "approve")
	tv.collectAndIssue()
	dev, err := f.iss.Store().GetDeviceByLabel(ctxStore, tv.label())
	if err != nil {
		t.Fatal(err)
	}
	dev.Name = "Living room TV"
	if err := f.iss.Store().UpdateDevice(ctxStore, dev); err != nil {
		t.Fatal(err)
	}
	if err := f.iss.Store().SetDeviceAddresses(ctxStore, dev.ID, []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("fd00::20")}); err != nil {
		t.Fatal(err)
	}
	b.get("/devices/new")
	b.post("/devices/new", map[string][]string{"name": {"NAS in the hall"}})

	do(t, ctx, chromedp.Navigate(f.base+"/login"), chromedp.WaitVisible(`input[name="name"]`))
	shot("login.png")
	loginInChromium(t, ctx, f, "alice")

	printer := newDevice(t, f)
	printer.model, printer.hostname = "LaserWorks P4", "office-printer"
	printer.start()
	do(t, ctx, chromedp.Navigate(strings.Replace(printer.auth.VerificationURIComplete, f.ip, f.base, 1)))
	waitText(t, ctx, "Enter the code")
	shot("code-entry.png")
	do(t, ctx, chromedp.Click(`form[action="/device"] button`))
	waitText(t, ctx, "Approve this device?")
	shot("approval.png")
	do(t, ctx, chromedp.Click(`form[action="/device/approve"] button`))
	waitText(t, ctx, "The device is approved")
	printer.collectAndIssue()
	do(t, ctx, chromedp.Navigate(f.base+"/"))
	waitText(t, ctx, "office-printer")
	shot("devices.png")
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	do(t, ctx, chromedp.Navigate(f.base+"/"))
	waitText(t, ctx, "office-printer")
	shot("devices-phone.png")

	// More pages, for the documentation.
	do(t, ctx, chromedp.EmulateViewport(1100, 760))
	do(t, ctx, chromedp.Navigate(f.base+"/devices/"+dev.ID))
	waitText(t, ctx, "Revoke or unpair")
	shot("device.png")
	do(t, ctx, chromedp.Navigate(f.base+"/devices/new"),
		chromedp.SendKeys(`input[name="name"]`, "Home Assistant"),
		chromedp.Submit(`input[name="name"]`))
	waitText(t, ctx, "Home Assistant is ready")
	shot("stock-client.png")
	do(t, ctx, chromedp.Navigate(f.base+"/devices/"+dev.ID))
	waitText(t, ctx, "Revoke or unpair")
	do(t, ctx, chromedp.Click(`form[action$="/unpair"] button`))
	waitText(t, ctx, "This cannot be undone")
	shot("confirm-unpair.png")
	do(t, ctx, chromedp.Navigate(f.base+"/audit"))
	waitText(t, ctx, "Audit log")
	shot("audit.png")
}

// TestOwnerFlowsInChromium walks approval, revoking and unpairing in
// Chromium as an owner meets them, with axe-core on every page: the device
// list shows the approved device's certificate without a reload; revoking
// and unpairing each stop at a confirmation that says what will happen,
// at a phone's width too; the unpaired device keeps its page and history
// and can be removed from the list.
func TestOwnerFlowsInChromium(t *testing.T) {
	t.Parallel()
	browsertest.RequireAxe(t)
	f := start(t)
	f.addUser(t, "alice", store.RoleOwner)
	ctx := f.chromium(t, 1000, 760)
	check := func(what string) {
		t.Helper()
		browsertest.CheckAccessible(t, ctx, what)
	}

	d := newDevice(t, f)
	d.start()
	// The device's link leads to a login that says what it is for.
	do(t, ctx, chromedp.Navigate(strings.Replace(d.auth.VerificationURIComplete, f.ip, f.base, 1)))
	waitText(t, ctx, "Log in to approve a device")
	check("login for a code")
	do(t, ctx,
		chromedp.SendKeys(`input[name="name"]`, "alice"),
		chromedp.SendKeys(`input[name="password"]`, testPassword),
		chromedp.Submit(`input[name="password"]`),
	)
	waitText(t, ctx, "Nothing is approved yet")
	check("code entry")
	do(t, ctx, chromedp.Click(`form[action="/device"] button`))
	waitText(t, ctx, "Approve this device?")
	// The fingerprint is the one the device shows (names.Grouped).
	waitText(t, ctx, d.label()[:4]+" "+d.label()[4:8])
	check("approval")
	do(t, ctx, chromedp.Click(`form[action="/device/approve"] button`))
	waitText(t, ctx, "waiting for a certificate")
	check("devices, waiting")
	// The device gets its certificate; the list follows without a reload.
	d.collectAndIssue()
	waitText(t, ctx, "active")

	dev, err := f.iss.Store().GetDeviceByLabel(t.Context(), d.label())
	if err != nil {
		t.Fatal(err)
	}
	page := f.base + "/devices/" + dev.ID
	do(t, ctx, chromedp.Navigate(page))
	waitText(t, ctx, "Revoke or unpair")
	check("device")
	do(t, ctx, chromedp.Click(`form[action$="/revoke-certificates"] button`))
	waitText(t, ctx, "Revoke the certificates of")
	check("confirm revoke")
	do(t, ctx, chromedp.Click(`a.button.secondary`)) // Cancel
	waitText(t, ctx, "Revoke or unpair")
	if certs, _ := f.iss.Store().ListCertificates(t.Context(), dev.ID); len(certs) != 1 || certs[0].Revoked() {
		t.Fatalf("after Cancel: %d certificates, revoked %v", len(certs), len(certs) == 1 && certs[0].Revoked())
	}
	do(t, ctx, chromedp.Click(`form[action$="/revoke-certificates"] button`))
	waitText(t, ctx, "Revoke the certificates of")
	do(t, ctx, chromedp.Click(`form input[name="confirm"] ~ button`))
	waitText(t, ctx, "Its certificates are revoked")
	check("device, revoked")

	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	do(t, ctx, chromedp.Click(`form[action$="/unpair"] button`))
	waitText(t, ctx, "This cannot be undone")
	check("confirm unpair, phone")
	do(t, ctx, chromedp.Click(`form input[name="confirm"] ~ button`))
	waitText(t, ctx, "The device is unpaired")
	waitText(t, ctx, "History")
	check("device, unpaired, phone")
	do(t, ctx, chromedp.EmulateViewport(1000, 760))
	do(t, ctx, chromedp.Click(`form[action$="/remove"] button`))
	waitText(t, ctx, "removed from the list")
	check("devices, after remove")
	do(t, ctx, chromedp.Navigate(f.base+"/audit"))
	waitText(t, ctx, "remove")
	check("audit")

	// The other pages an owner meets, and their errors beside the field.
	do(t, ctx, chromedp.Navigate(f.base+"/account"))
	waitText(t, ctx, "Change password")
	check("account")
	do(t, ctx,
		chromedp.SendKeys(`input[name="current"]`, "not the password"),
		chromedp.SendKeys(`input[name="new"]`, "a new password here"),
		chromedp.SendKeys(`input[name="new2"]`, "a new password here"),
		chromedp.Submit(`input[name="new2"]`),
	)
	waitText(t, ctx, "Your current password is not right")
	check("account, wrong password")
	do(t, ctx, chromedp.Navigate(f.base+"/devices/new"))
	waitText(t, ctx, "Create device and key")
	check("new stock device")
	do(t, ctx, chromedp.Navigate(f.base+"/device"),
		chromedp.SendKeys(`input[name="user_code"]`, "BCDF-GHJK"),
		chromedp.Submit(`input[name="user_code"]`))
	waitText(t, ctx, "No pairing has this code")
	check("code entry, wrong code")
	do(t, ctx, chromedp.Navigate(f.base+"/devices/no-such-device"))
	waitText(t, ctx, "Back to your devices")
	check("not found")
}
