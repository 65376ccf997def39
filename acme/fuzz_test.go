package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// FuzzCheckCSR feeds finalize's CSR check any csr field: it never panics,
// every error is a problem, and a CSR it accepts names exactly the order's
// names.
func FuzzCheckCSR(f *testing.F) {
	names := []string{"dev.lan.test", "*.dev.lan.test"}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base64.RawURLEncoding.EncodeToString(der))
	f.Add("")
	f.Add("not base64 !")
	o := &store.Order{Identifiers: []store.Identifier{{Type: "dns", Value: names[0]}, {Type: "dns", Value: names[1]}}}
	f.Fuzz(func(t *testing.T, encoded string) {
		csr, err := checkCSR(encoded, o, "account-thumbprint", keypolicy.Default)
		if err != nil {
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("checkCSR: %v is not a problem", err)
			}
			return
		}
		if err := checkCSRNames(csr, names); err != nil {
			t.Fatalf("checkCSR accepted a CSR for other names: %v", err)
		}
	})
}

// FuzzParseCertID feeds the RFC 9773 certID parser anything: it never
// panics and every error is a problem.
func FuzzParseCertID(f *testing.F) {
	f.Add("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
	f.Add(".")
	f.Add("AA.gA")
	s := &Server{}
	f.Fuzz(func(t *testing.T, certID string) {
		if _, _, err := s.parseCertID(certID); err != nil {
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("parseCertID: %v is not a problem", err)
			}
		}
	})
}
