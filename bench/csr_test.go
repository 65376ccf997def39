package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net"
	"slices"
	"testing"
)

func TestNewCSR(t *testing.T) {
	der, err := newCSR([]string{"l.lan.test", "*.l.lan.test", "127.0.0.1", "fd00::1"})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Errorf("signature: %v", err)
	}
	if !slices.Equal(csr.DNSNames, []string{"l.lan.test", "*.l.lan.test"}) {
		t.Errorf("DNS names %v", csr.DNSNames)
	}
	if len(csr.IPAddresses) != 2 || !csr.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !csr.IPAddresses[1].Equal(net.ParseIP("fd00::1")) {
		t.Errorf("IP addresses %v", csr.IPAddresses)
	}
	if len(csr.Subject.Names) != 0 {
		t.Errorf("subject %v, want empty", csr.Subject)
	}
}

func TestP256SPKI(t *testing.T) {
	for range 500 { // X or Y starts with a zero byte in about one key in 128
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		want, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := p256SPKI(key); !bytes.Equal(got, want) {
			t.Fatalf("p256SPKI\n got %x\nwant %x", got, want)
		}
		var pt [65]byte
		p256Point(pt[:], key)
		if pub, _ := key.PublicKey.Bytes(); !bytes.Equal(pt[:], pub) {
			t.Fatalf("p256Point %x, want %x", pt, pub)
		}
	}
}
