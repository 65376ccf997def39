package issuer_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/internal/pebble"
	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
)

// TestOwnCertificateFromUpstream checks item 7 of the upstream signer: the
// issuer gets its own HTTPS certificate from the upstream CA for its
// hostname inside the zone, serves it to clients that ask for that name,
// and swaps in a renewal when the CA's ARI window opens, without a restart.
func TestOwnCertificateFromUpstream(t *testing.T) {
	dnsAddr, err := pebble.FreeDNSAddr()
	if err != nil {
		t.Fatal(err)
	}
	peb, err := pebble.Start(pebble.Options{DNSServer: dnsAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peb.Close)
	bundle := filepath.Join(t.TempDir(), "pebble-tls.pem")
	if err := os.WriteFile(bundle, peb.TLSRootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "issuer.lan.test"
	iss, _ := issuertest.Start(t, issuer.Config{
		Hostnames: []string{"localhost", name},
		Signer:    "upstream",
		Upstream: issuer.UpstreamConfig{
			Directory: peb.Directory(), CABundle: bundle, Limits: upstream.DefaultLimits,
			ARIPoll: 100 * time.Millisecond,
		},
		DNSListen: dnsAddr,
	})
	addr := strings.TrimPrefix(iss.Info().BaseURL, "https://")
	pebbleRoots := x509.NewCertPool()
	pebbleRoots.AddCert(peb.Root())

	first := waitServed(t, addr, name, pebbleRoots, nil)
	if leaf := servedCert(t, addr, "localhost"); leaf.VerifyHostname("localhost") != nil || leaf.Issuer.String() == first.Issuer.String() {
		t.Errorf("localhost got %v from %v, want the local root's certificate", leaf.DNSNames, leaf.Issuer)
	}

	// The CA's ARI window opens: the issuer renews and swaps.
	now := time.Now()
	if err := peb.SetRenewalWindow(first.SerialNumber, now.Add(-time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitServed(t, addr, name, pebbleRoots, first)
}

// waitServed waits until the issuer serves, for name, a certificate other
// than not that verifies against roots.
func waitServed(t *testing.T, addr, name string, roots *x509.CertPool, not *x509.Certificate) *x509.Certificate {
	t.Helper()
	var served *x509.Certificate
	testwait.For(t, 60*time.Second, "the issuer to serve a new certificate from the upstream for "+name, func() bool {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("connect for %s: %v", name, err)
		}
		chain := conn.ConnectionState().PeerCertificates
		conn.Close()
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
		if err == nil && (not == nil || !chain[0].Equal(not)) {
			served = chain[0]
		}
		return served != nil
	})
	return served
}
