package agent_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/internal/swtpmtest"
)

// tpmFixture is a software TPM whose attestation key a test manufacturer
// certified with the permanent identifier serial.
type tpmFixture struct {
	path   string
	tpm    io.Closer
	maker  *agent.TestManufacturer
	akCert []byte
	att    *agent.TPMAttester
}

const tpmSerial = "SWTPM-0001"

func newTPMFixture(t *testing.T) *tpmFixture {
	t.Helper()
	fx := &tpmFixture{path: swtpmtest.Start(t)}
	tpm, err := agent.OpenTPM(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	fx.tpm = tpm
	t.Cleanup(func() { tpm.Close() })
	akPub, err := agent.TPMAttestationKey(tpm)
	if err != nil {
		t.Fatalf("TPMAttestationKey: %v", err)
	}
	if fx.maker, err = agent.NewTestManufacturer("Test TPM CA"); err != nil {
		t.Fatal(err)
	}
	if fx.akCert, err = fx.maker.Certify(akPub, attest.PermanentIdentifier, tpmSerial, agent.CertifyOptions{AK: true}); err != nil {
		t.Fatal(err)
	}
	if fx.att, err = agent.NewTPMAttester(tpm, agent.TPMConfig{AKChain: [][]byte{fx.akCert}, Identifier: tpmSerial}); err != nil {
		t.Fatalf("NewTPMAttester: %v", err)
	}
	t.Cleanup(func() { fx.att.Close() })
	return fx
}

// TestTPMAttesterVerifies has swtpm certify its key for a key
// authorization, and the issuer's verifier accept the "tpm" statement: the
// attested key is the attester's, the identifier the AK certificate's.
func TestTPMAttesterVerifies(t *testing.T) {
	fx := newTPMFixture(t)
	ctx := t.Context()
	obj, err := fx.att.Attest(ctx, "tok.thumb")
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	v := attest.Verifier{Roots: []*x509.Certificate{fx.maker.Cert}}
	res, err := v.Verify(obj, "tok.thumb")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	key, err := fx.att.Key(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != attest.FormatTPM || !key.Public().(*ecdsa.PublicKey).Equal(res.Key) {
		t.Errorf("result: format %q, key %v; want tpm and the attester's key", res.Format, res.Key)
	}
	if !res.Proves(attest.PermanentIdentifier, tpmSerial) || res.Proves(attest.PermanentIdentifier, "other") {
		t.Errorf("identifiers %v, want exactly %s", res.PermanentIdentifiers, tpmSerial)
	}
	if res.Root != fx.maker.Cert {
		t.Errorf("root %v, want the test manufacturer's", res.Root.Subject)
	}
}

// TestTPMAttesterRefused checks the verifier's refusals of genuine TPM
// statements: made for another challenge, under a root the issuer does not
// trust, with an expired AK certificate.
func TestTPMAttesterRefused(t *testing.T) {
	fx := newTPMFixture(t)
	ctx := t.Context()
	obj, err := fx.att.Attest(ctx, "tok.thumb")
	if err != nil {
		t.Fatal(err)
	}
	other, err := agent.NewTestManufacturer("Another CA")
	if err != nil {
		t.Fatal(err)
	}
	trusting := attest.Verifier{Roots: []*x509.Certificate{fx.maker.Cert}}
	later := attest.Verifier{Roots: trusting.Roots, Now: func() time.Time { return time.Now().AddDate(2, 0, 0) }}
	for _, tc := range []struct {
		name, keyAuth, want string
		v                   attest.Verifier
	}{
		{"replayed for another challenge", "other.thumb", "another challenge", trusting},
		{"wrong root", "tok.thumb", "does not chain to a root", attest.Verifier{Roots: []*x509.Certificate{other.Cert}}},
		{"expired AK certificate", "tok.thumb", "is valid from", later},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(obj, tc.keyAuth)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestTPMKeySigns checks that the certificate key signs inside the TPM (a
// certificate made with it verifies) and is the same key after a restart
// of the attester on a new connection.
func TestTPMKeySigns(t *testing.T) {
	fx := newTPMFixture(t)
	ctx := t.Context()
	key, err := fx.att.Key(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("self-sign with the TPM key: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("TPM signature does not verify: %v", err)
	}
	d := sha256.Sum256([]byte("x"))
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA384)
	if err == nil || sig != nil {
		t.Errorf("Sign without SHA-256: %v, want an error", err)
	}

	// swtpm serves one connection at a time: close the first.
	fx.att.Close()
	fx.tpm.Close()
	tpm2, err := agent.OpenTPM(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.Close()
	again, err := agent.NewTPMAttester(tpm2, agent.TPMConfig{AKChain: [][]byte{fx.akCert}, Identifier: tpmSerial})
	if err != nil {
		t.Fatalf("NewTPMAttester again: %v", err)
	}
	defer again.Close()
	key2, _ := again.Key(ctx)
	if !key2.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Errorf("the certificate key changed on a new connection")
	}
}
