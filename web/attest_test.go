package web_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/internal/browsertest"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// TestAttestPage checks the admin's attestation page: the issuer's roots,
// the default, setting a rule (and the audit of it), a bad rule refused,
// and the page closed to owners. The device page shows a device's
// attestation, by which root and model.
func TestAttestPage(t *testing.T) {
	maker, err := agent.NewTestManufacturer("Page Maker")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "maker.pem"), maker.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	iss, roots := issuertest.Start(t, issuer.Config{Hostnames: []string{"localhost"}, AttestRoots: dir})
	u, _ := url.Parse(iss.Info().BaseURL)
	f := &fixture{iss: iss, roots: roots, base: "https://localhost:" + u.Port(), ip: iss.Info().BaseURL}
	f.addUser(t, "root", store.RoleAdmin)
	alice := f.addUser(t, "alice", store.RoleOwner)

	admin := f.browser(t)
	admin.login("root")
	admin.want(admin.get("/attest"), http.StatusOK, "Page Maker", attest.Fingerprint(maker.Cert), "A model without a rule is <strong>optional</strong>")
	admin.want(admin.post("/attest", url.Values{"model": {"Acme TV"}, "rule": {"required"}}), http.StatusOK,
		"The attestation rule is saved", "Acme TV", `<span class="tag">required</span>`)
	admin.want(admin.post("/attest", url.Values{"model": {"Acme TV"}, "rule": {"sometimes"}}), http.StatusBadRequest,
		"Choose required, optional, off or default.")
	if p, err := iss.Store().GetAttestPolicy(t.Context(), "Acme TV"); err != nil || p.Rule != store.AttestRequired || p.Actor != "root" {
		t.Errorf("stored rule: %+v, %v", p, err)
	}
	admin.want(admin.get("/audit"), http.StatusOK, "attest-rule", `model &#34;Acme TV&#34;: required`)

	owner := f.browser(t)
	owner.login("alice")
	owner.want(owner.get("/attest"), http.StatusNotFound)
	owner.want(owner.post("/attest", url.Values{"model": {"Acme TV"}, "rule": {"off"}}), http.StatusNotFound)
	if p, _ := iss.Store().GetAttestPolicy(t.Context(), "Acme TV"); p == nil || p.Rule != store.AttestRequired {
		t.Errorf("an owner changed the rule: %+v", p)
	}

	d := &store.Device{Label: names.RandomLabel(), OwnerID: alice.OwnerID, Name: "TV", Model: "Acme TV", KeyThumbprint: "x", Status: store.StatusActive}
	if err := iss.Store().CreateDevice(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	owner.want(owner.get("/devices/"+d.ID), http.StatusOK, "not attested")
	if err := iss.Store().SetDeviceAttestation(t.Context(), &store.DeviceAttestation{
		DeviceID: d.ID, Format: "tpm", Root: maker.Cert.Subject.String(), RootFingerprint: attest.Fingerprint(maker.Cert),
		Model: "Acme TV", Identifier: store.Identifier{Type: attest.PermanentIdentifier, Value: "SN-9"},
	}); err != nil {
		t.Fatal(err)
	}
	owner.want(owner.get("/devices/"+d.ID), http.StatusOK, `attested: <span class="tag">tpm</span>`, "by root CN=Page Maker", "model Acme TV", "<code>SN-9</code>")
}

// TestAttestPageInChromium checks the attestation page as an admin's
// Chromium renders it, with axe-core, after saving a rule through its
// form.
func TestAttestPageInChromium(t *testing.T) {
	browsertest.RequireAxe(t)
	t.Parallel()
	f := start(t)
	f.addUser(t, "root", store.RoleAdmin)
	ctx := f.chromium(t, 1100, 760)
	loginInChromium(t, ctx, f, "root")
	do(t, ctx, chromedp.Navigate(f.base+"/attest"),
		chromedp.SendKeys(`input[name="model"]`, "Acme TV"),
		chromedp.Click(`input[name="rule"][value="required"]`),
		chromedp.Click(`form[action="/attest"] button`))
	waitText(t, ctx, "The attestation rule is saved")
	browsertest.CheckAccessible(t, ctx, "attest")
}
