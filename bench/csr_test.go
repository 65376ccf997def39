package bench

import (
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
