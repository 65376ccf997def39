package e2e

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStockClients runs the stock clients that have no test of their own
// against one issuer, in parallel: uacme and Caddy, each with its own
// device; and curl on the CA files the certificates point at.
func TestStockClients(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	t.Run("uacme", func(t *testing.T) {
		requireTool(t, "uacme", "uacme")
		t.Parallel()
		testUacme(t, iss)
	})
	t.Run("caddy", func(t *testing.T) {
		requireTool(t, "caddy", "caddy")
		t.Parallel()
		testCaddy(t, iss)
	})
	t.Run("plain http ca files", func(t *testing.T) {
		requireTool(t, "curl", "curl")
		t.Parallel()
		testPlainHTTPFiles(t, iss)
	})
}

// testPlainHTTPFiles fetches with curl, over plain HTTP, the CRL and the
// intermediate that a new leaf names (RFC 5280 sections 4.2.1.13 and
// 4.2.2.1), and checks that every other path redirects to HTTPS.
func testPlainHTTPFiles(t *testing.T, iss *issuer) {
	ctx := acmeContext(t)
	dev := addDevice(t, iss)
	cl := registerDevice(t, ctx, iss, dev)
	chain := issue(t, ctx, cl, dev.Names...).chain
	leaf, inter := chain[0], chain[1]
	if len(leaf.CRLDistributionPoints) != 1 || leaf.CRLDistributionPoints[0] != iss.CRL {
		t.Fatalf("leaf CRL distribution points %q, want %s", leaf.CRLDistributionPoints, iss.CRL)
	}
	if len(leaf.IssuingCertificateURL) != 1 || !strings.HasPrefix(leaf.IssuingCertificateURL[0], "http://") {
		t.Fatalf("leaf caIssuers %q, want one http:// URL", leaf.IssuingCertificateURL)
	}
	curl := func(url string) []byte {
		t.Helper()
		out := filepath.Join(t.TempDir(), "body")
		mustRun(t, nil, "curl", "-sS", "--fail", "--max-time", "10", "-o", out, url)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	crl, err := x509.ParseRevocationList(curl(leaf.CRLDistributionPoints[0]))
	if err != nil {
		t.Fatalf("curl %s: not a DER CRL: %v", leaf.CRLDistributionPoints[0], err)
	}
	if err := crl.CheckSignatureFrom(inter); err != nil {
		t.Errorf("CRL at %s is not the intermediate's: %v", leaf.CRLDistributionPoints[0], err)
	}
	if got := curl(leaf.IssuingCertificateURL[0]); !bytes.Equal(got, inter.Raw) {
		t.Errorf("curl %s: %d bytes, not the intermediate's DER", leaf.IssuingCertificateURL[0], len(got))
	}
	httpBase := strings.TrimSuffix(iss.CRL, "/ca/crl")
	r := mustRun(t, nil, "curl", "-sS", "--max-time", "10", "-o", "/dev/null",
		"-w", "%{http_code} %{redirect_url}", httpBase+"/acme/directory")
	if want := "308 " + iss.Directory; r.stdout != want {
		t.Errorf("plain HTTP /acme/directory answers %q, want %q", r.stdout, want)
	}
}
