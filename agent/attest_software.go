package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/lantls/lantls/attest"
)

// TestManufacturer is a device maker's attestation CA made in memory, for
// tests and the demo.
//
// NOT FOR PRODUCTION: anyone can make one, and what it certifies proves
// nothing about hardware. An issuer that trusts its root (--attest-roots)
// trusts any device that claims it.
type TestManufacturer struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// CertifyOptions shape a certificate of TestManufacturer.Certify.
type CertifyOptions struct {
	// NotBefore and NotAfter default to an hour ago and a year on.
	NotBefore, NotAfter time.Time
	// AK marks the certificate as a TPM attestation key's
	// (tcg-kp-AIKCertificate, WebAuthn section 8.3.1).
	AK bool
}

// NewTestManufacturer makes a test manufacturer CA named name.
func NewTestManufacturer(name string) (*TestManufacturer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name + " (test manufacturer, NOT FOR PRODUCTION)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("make test manufacturer: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &TestManufacturer{Cert: cert, key: key}, nil
}

// RootPEM is the manufacturer's root certificate in PEM, for the issuer's
// --attest-roots directory.
func (m *TestManufacturer) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Cert.Raw})
}

// Certify issues a certificate (DER) for pub that names the identifier
// (typ, value) in its subjectAltName, as a maker certifies a device key or
// a TPM's attestation key.
func (m *TestManufacturer) Certify(pub crypto.PublicKey, typ, value string, o CertifyOptions) ([]byte, error) {
	san, err := attest.SubjectAltName(typ, value)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{san},
	}
	if o.AK {
		tmpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{2, 23, 133, 8, 3}}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, m.Cert, pub, m.key)
}

// SoftwareAttester is an Attester whose key is an ordinary key in memory,
// certified by a TestManufacturer, making "packed" statements (WebAuthn
// section 8.2).
//
// NOT FOR PRODUCTION: the key is in memory, not in hardware, and is new at
// each start. It is for tests and the demo.
type SoftwareAttester struct {
	typ, value string
	key        *ecdsa.PrivateKey
	chain      [][]byte
}

// NewSoftwareAttester makes a key and has m certify it with the identifier
// (typ, value).
func NewSoftwareAttester(m *TestManufacturer, typ, value string) (*SoftwareAttester, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf, err := m.Certify(key.Public(), typ, value, CertifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("software attester: %w", err)
	}
	return &SoftwareAttester{typ: typ, value: value, key: key, chain: [][]byte{leaf}}, nil
}

// Identifier is the identifier the key's certificate carries.
func (s *SoftwareAttester) Identifier() (string, string) { return s.typ, s.value }

// Key returns the certificate key.
func (s *SoftwareAttester) Key(context.Context) (crypto.Signer, error) { return s.key, nil }

// Attest signs the key authorization with the key, its certificate in x5c.
func (s *SoftwareAttester) Attest(_ context.Context, keyAuthorization string) ([]byte, error) {
	d := sha256.Sum256([]byte(keyAuthorization))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	if err != nil {
		return nil, err
	}
	return attest.Marshal(attest.FormatPacked, attest.PackedStatement{Alg: attest.AlgES256, Sig: sig, X5C: s.chain})
}

// randomSerial is a 128-bit certificate serial.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err)
	}
	return n
}
