package acme_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"
)

// TestStockClientHappyPath drives the whole life of a device certificate
// with golang.org/x/crypto/acme: EAB registration, an order for L.Z and
// *.L.Z, finalize, download, ARI, a renewal with replaces (raw client, as
// x/crypto/acme cannot send replaces), and revocation.
func TestStockClientHappyPath(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev := h.newDevice("")
	key := newKey(t)
	cl := &xacme.Client{Key: key, DirectoryURL: h.dirURL, HTTPClient: h.ts.Client()}

	acct, err := cl.Register(ctx, &xacme.Account{
		Contact:                []string{"mailto:owner@example.test"},
		ExternalAccountBinding: &xacme.ExternalAccountBinding{KID: dev.eabKID, Key: dev.eabKey},
	}, xacme.AcceptTOS)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if acct.Status != xacme.StatusValid || !strings.HasPrefix(acct.URI, h.ts.URL+"/acme/account/") {
		t.Fatalf("account = %+v", acct)
	}

	base, wildcard := dev.name(""), "*."+dev.name("")
	o, err := cl.AuthorizeOrder(ctx, xacme.DomainIDs(base, wildcard))
	if err != nil {
		t.Fatalf("authorize order: %v", err)
	}
	if o.Status != xacme.StatusReady || len(o.AuthzURLs) != 2 {
		t.Fatalf("order = %+v", o)
	}
	for _, u := range o.AuthzURLs {
		a, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("get authorization: %v", err)
		}
		if a.Status != xacme.StatusValid || a.Identifier.Value != base {
			t.Errorf("authorization = %+v", a)
		}
	}

	certKey := newKey(t)
	der, certURL, err := cl.CreateCertFromOrder(ctx, o, csr(t, certKey, base, wildcard), true)
	if err != nil {
		t.Fatalf("create cert: %v", err)
	}
	var chain []*x509.Certificate
	for _, b := range der {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	for _, name := range []string{base, dev.name("192-168-1-20"), dev.name("fd00-0-0-0-0-0-0-1")} {
		if err := h.verify(chain, name); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	for _, name := range []string{"printer.example.com", "other." + testZone, "a.b." + base} {
		if err := h.verify(chain, name); err == nil {
			t.Errorf("verify %s: the certificate should not be valid for it", name)
		}
	}
	if got, _ := cl.FetchCert(ctx, certURL, true); len(got) != len(der) {
		t.Errorf("FetchCert gave %d certificates, want %d", len(got), len(der))
	}

	// ARI says: renew in the second-to-last sixth of the lifetime.
	leaf := chain[0]
	raw := h.client(key)
	raw.KID = string(cl.KID)
	window := renewalInfo(t, h, certID(t, leaf))
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if !window.Start.Equal(leaf.NotAfter.Add(-life/3)) || !window.End.Equal(leaf.NotAfter.Add(-life/6)) {
		t.Errorf("window = %+v for %v..%v", window, leaf.NotBefore, leaf.NotAfter)
	}

	// Renewal with replaces.
	renewal := h.newOrder(raw, map[string]any{
		"identifiers": dnsIDs(base, wildcard),
		"replaces":    certID(t, leaf),
	})
	if renewal.Replaces != certID(t, leaf) || renewal.Status != "ready" {
		t.Fatalf("renewal order = %+v", renewal)
	}
	renewed := h.finalize(raw, renewal, newKey(t))
	newChain := h.download(raw, renewed.Certificate)
	if err := h.verify(newChain, base); err != nil {
		t.Errorf("verify renewed: %v", err)
	}
	if newChain[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Errorf("renewal has the old serial")
	}

	// Revoke the first certificate; ARI then says renew now.
	if err := cl.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	window = renewalInfo(t, h, certID(t, leaf))
	now := h.clock.Now()
	if !window.Start.Before(now) || !window.End.After(now) {
		t.Errorf("revoked window = %+v at %v", window, now)
	}
	if got := h.counter("lantls_acme_certificates_issued_total", "profile", "default"); got != 2 {
		t.Errorf("issued counter = %v, want 2", got)
	}
	if got := h.counter("lantls_acme_revocations_total", "reason", "superseded"); got != 1 {
		t.Errorf("revocations counter = %v, want 1", got)
	}
}

// window is an ARI suggested window.
type window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// renewalInfo GETs the ARI window of certID.
func renewalInfo(t *testing.T, h *harness, certID string) window {
	t.Helper()
	res, err := h.ts.Client().Get(h.ts.URL + "/acme/renewal-info/" + certID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("renewal info: status %d", res.StatusCode)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Errorf("renewal info without Retry-After")
	}
	var v struct {
		SuggestedWindow window `json:"suggestedWindow"`
	}
	if err := decodeJSON(res, &v); err != nil {
		t.Fatal(err)
	}
	return v.SuggestedWindow
}
