package attest_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/attest"
)

// FuzzVerify feeds arbitrary attestation objects to the entry point: it
// must never panic, and whatever it accepts must name an attested key
// and the configured root.
func FuzzVerify(f *testing.F) {
	m := maker(f, "Maker")
	att, err := agent.NewSoftwareAttester(m, attest.PermanentIdentifier, "SN-1")
	if err != nil {
		f.Fatal(err)
	}
	obj, err := att.Attest(context.Background(), keyAuth)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(obj, keyAuth)
	tpm, _ := attest.Marshal(attest.FormatTPM, attest.TPMStatement{
		Ver: "2.0", Alg: attest.AlgES256, X5C: [][]byte{m.Cert.Raw},
		Sig:      []byte{0x00, 0x18, 0x00, 0x0b, 0x00, 0x01, 0x01, 0x00, 0x01, 0x01},
		CertInfo: []byte{0xff, 0x54, 0x43, 0x47, 0x80, 0x17, 0x00, 0x00, 0x00, 0x00},
		PubArea:  []byte{0x00, 0x23, 0x00, 0x0b, 0x00, 0x04, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10, 0x00, 0x18, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00},
	})
	f.Add(tpm, keyAuth)
	f.Add([]byte{0xa0}, "")
	v := attest.Verifier{Roots: []*x509.Certificate{m.Cert}}
	f.Fuzz(func(t *testing.T, obj []byte, keyAuth string) {
		res, err := v.Verify(obj, keyAuth)
		if err != nil {
			return
		}
		if res.Key == nil || res.Root == nil || !res.Root.Equal(m.Cert) {
			t.Errorf("accepted a statement without a key or root: %+v", res)
		}
	})
}
