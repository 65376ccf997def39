package acme_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lantls/lantls/store"
)

// TestOwnerBWalksOwnerA sends, with the account of owner B's device, every
// ACME request that names an object by ID (account, orders, order,
// finalize, authorization, challenge, certificate, revocation) at owner
// A's objects, and a new order for A's names. Each must be refused with
// unauthorized (401), a 404, or rejectedIdentifier, and A's objects must
// be unchanged. (renewal-info is public by RFC 9773: it reveals only a
// suggested window for a certificate the asker already holds.)
func TestOwnerBWalksOwnerA(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	devA := h.newDevice("")
	a := h.account(devA)
	ownerB, err := h.store.EnsureOwner(ctx, "owner-b@example.test")
	if err != nil {
		t.Fatal(err)
	}
	devB := h.newDevice("")
	devB.OwnerID = ownerB.ID
	if err := h.store.UpdateDevice(ctx, devB.Device); err != nil {
		t.Fatal(err)
	}
	b := h.account(devB)

	issued, chain := h.issue(a, devA.name(""), devA.name("*"))
	ready := h.newOrder(a, map[string]any{"identifiers": dnsIDs(devA.name(""))})
	if ready.Status != "ready" {
		t.Fatalf("A's second order is %s, want ready", ready.Status)
	}
	authz := ready.Authorizations[0]

	for _, tt := range []struct {
		name    string
		url     string
		payload any
	}{
		{"A's account", a.KID, map[string]any{}},
		{"deactivate A's account", a.KID, map[string]any{"status": "deactivated"}},
		{"A's orders", a.KID + "/orders", nil},
		{"A's order", ready.URL, nil},
		{"finalize A's order", ready.Finalize, map[string]string{"csr": b64(csr(t, newKey(t), devA.name("")))}},
		{"A's authorization", authz, nil},
		{"deactivate A's authorization", authz, map[string]any{"status": "deactivated"}},
		{"A's challenge", strings.Replace(authz, "/authz/", "/chall/", 1) + "/dns-01", map[string]any{}},
		{"A's certificate", issued.Certificate, nil},
		{"revoke A's certificate", b.Dir.RevokeCert, map[string]any{"certificate": b64(chain[0].Raw)}},
		{"order A's names", b.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(devA.name(""))}},
		{"order A's wildcard", b.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(devA.name("*"))}},
		{"order A's address-name", b.Dir.NewOrder, map[string]any{"identifiers": dnsIDs(devA.name("192-168-1-20"))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := b.Post(ctx, tt.url, tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			p := res.Problem()
			refused := p != nil && (res.Status == http.StatusUnauthorized && strings.HasSuffix(p.Type, ":unauthorized") ||
				res.Status == http.StatusNotFound ||
				strings.HasSuffix(p.Type, ":rejectedIdentifier"))
			if !refused {
				t.Fatalf("B got %v, want unauthorized, 404 or rejectedIdentifier", res)
			}
		})
	}

	// A's objects are as they were.
	accts, err := h.store.ListAccountsByDevice(ctx, devA.ID)
	if err != nil || len(accts) != 1 {
		t.Fatalf("A's accounts = %+v, %v", accts, err)
	}
	if acct := accts[0]; acct.Status != store.StatusValid {
		t.Errorf("A's account = %+v; want valid", acct)
	}
	res, err := a.Post(ctx, ready.URL, nil)
	if err != nil || res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"ready"`) {
		t.Errorf("A's order after B's walk: %v %v", res, err)
	}
	res, err = a.Post(ctx, authz, nil)
	if err != nil || res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"valid"`) {
		t.Errorf("A's authorization after B's walk: %v %v", res, err)
	}
	certs, err := h.store.ListCertificates(ctx, devA.ID)
	if err != nil || len(certs) != 1 || certs[0].Revoked() {
		t.Errorf("A's certificates after B's walk = %+v, %v; want one, not revoked", certs, err)
	}
}
