package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/internal/swtpmtest"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

// newAttestIssuer is a test issuer that trusts maker's root and requires
// devices of the test model to attest.
func newAttestIssuer(t *testing.T, maker *TestManufacturer) *testIssuer {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "maker.pem"), maker.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	iss, roots := issuertest.Start(t, issuer.Config{AttestRoots: dir})
	ctx := context.Background()
	owner, err := iss.Store().EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := devices.SetAttestRule(ctx, iss.Store(), devices.Operator, "test", "required"); err != nil {
		t.Fatal(err)
	}
	return &testIssuer{t: t, iss: iss, roots: roots, owner: owner}
}

// TestAttestedAgentTPM pairs an agent whose certificate key is in a
// software TPM (swtpm) with an issuer that requires attestation: it
// answers device-attest-01 with a "tpm" statement, gets a certificate for
// the TPM's key, serves TLS with it (the TPM signs each handshake), and
// after a restart serves the stored certificate without ordering again.
func TestAttestedAgentTPM(t *testing.T) {
	maker, err := NewTestManufacturer("Agent TPM CA")
	if err != nil {
		t.Fatal(err)
	}
	ti := newAttestIssuer(t, maker)
	path := swtpmtest.Start(t)
	tpm, err := OpenTPM(path)
	if err != nil {
		t.Fatal(err)
	}
	akPub, err := TPMAttestationKey(tpm)
	if err != nil {
		t.Fatal(err)
	}
	akCert, err := maker.Certify(akPub, attest.PermanentIdentifier, "AGENT-TPM-1", CertifyOptions{AK: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := TPMConfig{AKChain: [][]byte{akCert}, Identifier: "AGENT-TPM-1"}
	att, err := NewTPMAttester(tpm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	storage := DirStorage(filepath.Join(t.TempDir(), "state"))
	conf := ti.config(storage)
	conf.Attester = att
	a, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	stop := runAgentStoppable(t, a)
	ti.approve(a)
	waitReady(t, a)
	cert := a.Certificate()
	key, _ := att.Key(context.Background())
	if _, isSoft := cert.PrivateKey.(*ecdsa.PrivateKey); isSoft || !key.Public().(*ecdsa.PublicKey).Equal(cert.Leaf.PublicKey) {
		t.Fatalf("certificate key %T is not the TPM's", cert.PrivateKey)
	}
	d, err := ti.iss.Store().GetDeviceByLabel(context.Background(), a.credentials().Label)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := ti.iss.Store().GetDeviceAttestation(context.Background(), d.ID); err != nil || at.Format != "tpm" || at.Identifier.Value != "AGENT-TPM-1" {
		t.Errorf("issuer's record of the attestation: %+v, %v", at, err)
	}
	handshake(t, a.TLSConfig(), ti, cert.Leaf.DNSNames[0])
	stop()

	// A restart on a new connection to the TPM (swtpm serves one at a
	// time) serves the stored certificate.
	att.Close()
	tpm.Close()
	tpm2, err := OpenTPM(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.Close()
	att2, err := NewTPMAttester(tpm2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer att2.Close()
	conf.Attester = att2
	b, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	if c := b.Certificate(); c == nil || c.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 {
		t.Fatalf("restarted agent does not serve the stored certificate: %v", c)
	}
	handshake(t, b.TLSConfig(), ti, cert.Leaf.DNSNames[0])
}

// TestAttestedAgentRequired checks that an agent without an attester gets
// no certificate from an issuer that requires its model to attest, and
// says why.
func TestAttestedAgentRequired(t *testing.T) {
	maker, err := NewTestManufacturer("Agent CA")
	if err != nil {
		t.Fatal(err)
	}
	ti := newAttestIssuer(t, maker)
	a, err := New(ti.config(DirStorage(filepath.Join(t.TempDir(), "state"))))
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	ti.approve(a)
	testwait.Until(20*time.Second, func() bool { return a.Status().LastError != "" })
	if st := a.Status(); a.Certificate() != nil || !strings.Contains(st.LastError, "must prove their key in hardware") {
		t.Errorf("status %+v; want no certificate and the issuer's reason", st)
	}
	// With the software attester (a test manufacturer's key) it does.
	soft, err := NewSoftwareAttester(maker, attest.PermanentIdentifier, "SOFT-1")
	if err != nil {
		t.Fatal(err)
	}
	conf := ti.config(DirStorage(filepath.Join(t.TempDir(), "state2")))
	conf.Attester = soft
	b, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, b)
	ti.approve(b)
	waitReady(t, b)
	d, _ := ti.iss.Store().GetDeviceByLabel(context.Background(), b.credentials().Label)
	if at, err := ti.iss.Store().GetDeviceAttestation(context.Background(), d.ID); err != nil || at.Format != "packed" {
		t.Errorf("attestation: %+v, %v", at, err)
	}
}

// handshake completes a TLS handshake against cfg, as a browser trusting
// the issuer's root would.
func handshake(t *testing.T, cfg *tls.Config, ti *testIssuer, name string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ti.roots, ServerName: name})
	if err != nil {
		t.Fatalf("TLS handshake with the TPM key: %v", err)
	}
	c.Close()
}

// TestAttestedAgentFallback runs an agent with an attester against an
// issuer that takes no attestation (no roots, so every model is off): it
// orders again without its identifier and gets a certificate for the
// attester's key all the same.
func TestAttestedAgentFallback(t *testing.T) {
	ti := newTestIssuer(t)
	maker, err := NewTestManufacturer("Fallback CA")
	if err != nil {
		t.Fatal(err)
	}
	soft, err := NewSoftwareAttester(maker, attest.PermanentIdentifier, "SOFT-2")
	if err != nil {
		t.Fatal(err)
	}
	conf := ti.config(DirStorage(filepath.Join(t.TempDir(), "state")))
	conf.Attester = soft
	a, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	ti.approve(a)
	waitReady(t, a)
	key, _ := soft.Key(context.Background())
	if !key.Public().(*ecdsa.PublicKey).Equal(a.Certificate().Leaf.PublicKey) {
		t.Errorf("the certificate is not for the attester's key")
	}
	d, _ := ti.iss.Store().GetDeviceByLabel(context.Background(), a.credentials().Label)
	if at, err := ti.iss.Store().GetDeviceAttestation(context.Background(), d.ID); err == nil {
		t.Errorf("an issuer without roots recorded an attestation: %+v", at)
	}
}
