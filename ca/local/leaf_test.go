package local

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestSignMatchesCreateCertificate checks that the leaves Sign encodes
// itself are the certificates x509.CreateCertificate makes from the
// template Sign used before it did: for every key type Sign accepts, with
// and without CRL and AIA URLs, and also when crypto/x509 signs because the
// intermediate key is of another kind.
func TestSignMatchesCreateCertificate(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		name string
		key  crypto.Signer
	}{{"P-256", p256Key(t)}, {"P-384", p384}, {"RSA-2048", rsa2048}}
	for _, baseURL := range []string{testBaseURL, ""} {
		for _, encoder := range []string{"cryptobyte", "crypto/x509"} {
			c, err := Open(filepath.Join(t.TempDir(), "ca"), Options{Zone: testZone, BaseURL: baseURL, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			if c.current().parts == nil {
				t.Fatal("Open made an intermediate whose leaves Sign does not encode itself")
			}
			if encoder == "crypto/x509" {
				s := *c.current()
				s.parts = nil
				c.cur.Store(&s)
			}
			for _, k := range keys {
				t.Run(k.name+" "+encoder+" base URL "+baseURL, func(t *testing.T) {
					req := leafRequest(t, k.key)
					issued, err := c.Sign(t.Context(), req)
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					got := parseLeaf(t, issued)
					for _, host := range append(slices.Clone(req.Names), "host."+testLabel+"."+testZone) {
						if _, err := got.Verify(verifyOpts(c, host)); err != nil {
							t.Errorf("Verify %s: %v", host, err)
						}
					}
					want := oldLeaf(t, c, issued.Serial, issued.NotBefore, issued.NotAfter, req.Names, k.key.Public())
					compareLeaves(t, got, want)
				})
			}
		}
	}
}

// TestLeafTBSEncoding checks leafTBS against crypto/x509 where DER has a
// choice to make: serials that need a leading zero byte or are short, and
// times on either side of the switch from UTCTime to GeneralizedTime.
func TestLeafTBSEncoding(t *testing.T) {
	c, _ := openCA(t)
	key := p256Key(t)
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ski, err := keyID(spki)
	if err != nil {
		t.Fatal(err)
	}
	y2050 := time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)
	maxSerial := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 127), big.NewInt(1))
	tests := []struct {
		name                string
		serial              *big.Int
		notBefore, notAfter time.Time
	}{
		{"serial 1", big.NewInt(1), testNow, testNow.Add(time.Hour)},
		{"serial 0x80", big.NewInt(0x80), testNow, testNow.Add(time.Hour)},
		{"largest serial", maxSerial, testNow, testNow.Add(time.Hour)},
		{"ends in 2049", maxSerial, testNow, y2050.Add(-time.Second)},
		{"ends in 2050", maxSerial, testNow, y2050},
		{"in 2050", maxSerial, y2050, y2050.AddDate(0, 1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &leaf{
				serial:    tt.serial,
				notBefore: tt.notBefore,
				notAfter:  tt.notAfter,
				dnsNames:  []string{"a." + testZone, "*.a." + testZone},
				keyUsage:  x509.KeyUsageDigitalSignature,
				pub:       key.Public(),
				spki:      spki,
				ski:       ski,
			}
			got, err := leafTBS(c.current(), l)
			if err != nil {
				t.Fatalf("leafTBS: %v", err)
			}
			want, err := createCertificate(c.leafTemplate(l), c.Intermediate(), key.Public(), c.current().key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.RawTBSCertificate) {
				t.Errorf("TBSCertificate\n got %x\nwant %x", got, want.RawTBSCertificate)
			}
		})
	}
}

// TestCSRSPKI checks that Sign puts the CSR's own encoding of an ECDSA key
// in the leaf, and encodes the key afresh when the CSR's encoding is not
// the one crypto/x509 writes.
func TestCSRSPKI(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []crypto.Signer{p256Key(t), p384} {
		csr := newCSR(t, key, "a."+testZone)
		spki, err := csrSPKI(csr)
		if err != nil {
			t.Fatal(err)
		}
		if &spki[0] != &csr.RawSubjectPublicKeyInfo[0] {
			t.Errorf("%T key on %s encoded afresh", key, key.Public().(*ecdsa.PublicKey).Curve.Params().Name)
		}
	}

	// A NULL after the curve in the AlgorithmIdentifier, which
	// encoding/asn1 skips.
	key := p256Key(t)
	want, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	odd := []byte{0x30, want[1] + 2, 0x30, want[3] + 2}
	odd = append(odd, want[4:4+want[3]]...)
	odd = append(odd, 0x05, 0x00)
	odd = append(odd, want[4+want[3]:]...)
	got, err := csrSPKI(&x509.CertificateRequest{RawSubjectPublicKeyInfo: odd, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("csrSPKI = %x, want %x", got, want)
	}
}

// oldLeaf makes the leaf that Sign made with crypto/x509 before it encoded
// leaves itself.
func oldLeaf(t *testing.T, c *CA, serial *big.Int, notBefore, notAfter time.Time, dnsNames []string, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	keyUsage, err := c.checkKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		DNSNames:              dnsNames,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
	}
	if c.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{c.crlURL}
		tmpl.IssuingCertificateURL = []string{c.aiaURL}
	}
	cert, err := createCertificate(tmpl, c.Intermediate(), pub, c.current().key)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// compareLeaves reports every field in which got and want differ, then
// whether their TBSCertificates differ at all.
func compareLeaves(t *testing.T, got, want *x509.Certificate) {
	t.Helper()
	fields := []struct {
		name      string
		got, want any
	}{
		{"Extensions", got.Extensions, want.Extensions},
		{"KeyUsage", got.KeyUsage, want.KeyUsage},
		{"ExtKeyUsage", got.ExtKeyUsage, want.ExtKeyUsage},
		{"DNSNames", got.DNSNames, want.DNSNames},
		{"NotBefore", got.NotBefore, want.NotBefore},
		{"NotAfter", got.NotAfter, want.NotAfter},
		{"IsCA", got.IsCA, want.IsCA},
		{"BasicConstraintsValid", got.BasicConstraintsValid, want.BasicConstraintsValid},
		{"SubjectKeyId", got.SubjectKeyId, want.SubjectKeyId},
		{"AuthorityKeyId", got.AuthorityKeyId, want.AuthorityKeyId},
		{"CRLDistributionPoints", got.CRLDistributionPoints, want.CRLDistributionPoints},
		{"IssuingCertificateURL", got.IssuingCertificateURL, want.IssuingCertificateURL},
		{"RawIssuer", got.RawIssuer, want.RawIssuer},
		{"RawSubject", got.RawSubject, want.RawSubject},
		{"RawSubjectPublicKeyInfo", got.RawSubjectPublicKeyInfo, want.RawSubjectPublicKeyInfo},
		{"SerialNumber", got.SerialNumber, want.SerialNumber},
		{"SignatureAlgorithm", got.SignatureAlgorithm, want.SignatureAlgorithm},
	}
	for _, f := range fields {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if !bytes.Equal(got.RawTBSCertificate, want.RawTBSCertificate) {
		t.Errorf("TBSCertificate\n got %x\nwant %x", got.RawTBSCertificate, want.RawTBSCertificate)
	}
}
