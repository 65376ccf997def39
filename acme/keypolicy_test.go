package acme_test

import (
	"crypto/rand"
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/lantls/lantls/acme/internal/acmetest"
	"github.com/lantls/lantls/internal/testkeys"
	"github.com/lantls/lantls/problem"
)

// TestKeyPolicy runs the key policy table (testkeys) through the front end:
// each key registers an account (201, or the table's problem for account
// keys, 400) and is the key of a finalize CSR (a valid order, or the
// table's problem for certificate keys, 400).
func TestKeyPolicy(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	c := h.account(dev)
	for _, k := range testkeys.All() {
		t.Run(k.Name, func(t *testing.T) {
			kid, hmacKey := h.newEAB(dev.ID)
			res, err := h.client(k.Signer).Register(h.ctx, kid, hmacKey)
			if k.WantAccount == "" {
				if err != nil || res.Status != http.StatusCreated {
					t.Errorf("account key: %v %v, want 201", res, err)
				}
			} else {
				wantProblemStatus(t, "account key", res, err, k.WantAccount, http.StatusBadRequest)
			}

			o := h.newOrder(c, map[string]any{"identifiers": dnsIDs(dev.name(""))})
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{dev.name("")}}, k.Signer)
			if err != nil {
				t.Fatal(err)
			}
			res, err = c.Post(h.ctx, o.Finalize, map[string]string{"csr": b64(der)})
			if k.WantCertificate == "" {
				if err != nil || res.Status != http.StatusOK {
					t.Errorf("certificate key: %v %v, want 200", res, err)
				}
			} else {
				wantProblemStatus(t, "certificate key", res, err, k.WantCertificate, http.StatusBadRequest)
			}
		})
	}
}

// wantProblemStatus is wantProblem that says what was checked and lets the
// test go on.
func wantProblemStatus(t *testing.T, what string, res *acmetest.Response, err error, kind problem.Kind, status int) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if p := res.Problem(); p == nil || p.Type != problem.URNPrefix+string(kind) || res.Status != status {
		t.Errorf("%s: got %v, want %d %s", what, res, status, kind)
	}
}
