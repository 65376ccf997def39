package local

import (
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/internal/testkeys"
	"github.com/lantls/lantls/problem"
)

// TestSignKeyPolicy runs the key policy table (testkeys) through Sign: a
// CSR for each key is signed, or refused with the table's problem.
func TestSignKeyPolicy(t *testing.T) {
	c, _ := openCA(t)
	names := []string{"dev." + testZone}
	for _, k := range testkeys.All() {
		t.Run(k.Name, func(t *testing.T) {
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, k.Signer)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Sign(t.Context(), ca.Request{CSR: csr, Names: names, Profile: ca.Profiles["default"]})
			switch {
			case k.WantCertificate == "" && err != nil:
				t.Errorf("Sign: %v, want a certificate", err)
			case k.WantCertificate != "" && !problem.Is(err, k.WantCertificate):
				t.Errorf("Sign: %v, want %s", err, k.WantCertificate)
			}
		})
	}
}
