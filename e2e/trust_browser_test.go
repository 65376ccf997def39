package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/internal/browsertest"
)

// rootLab is a CA that `lantls ca init` made, and two certificates under
// its root: one for a name in the zone from the CA's own intermediate,
// one for a name outside it from an intermediate without constraints that
// the test makes with the root's key, as a thief of that key would.
type rootLab struct {
	rootFile             string
	root                 *x509.Certificate
	inZone, outZone      tls.Certificate
	inName, outName      string
	interFile, rogueFile string // the intermediates, PEM
	inFile, outFile      string // the leaves, PEM
}

func newRootLab(t *testing.T) *rootLab {
	t.Helper()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "data"), filepath.Join(dir, "offline-root.key")
	mustRun(t, nil, lantlsBin, "ca", "init", "--data", data, "--zone", "lan.test", "--permit", "localhost,127.0.0.1", "--root-key-out", keyFile)
	l := &rootLab{rootFile: filepath.Join(data, "ca", "root.pem"), inName: "device.lan.test", outName: "bank.example.com"}
	l.root = readRoot(t, l.rootFile)

	c, err := local.Open(filepath.Join(data, "ca"), local.Options{Zone: "lan.test"})
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{l.inName}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	issued, err := c.Sign(t.Context(), ca.Request{CSR: csr, Names: []string{l.inName}, Profile: ca.Profiles[ca.DefaultProfile]})
	if err != nil {
		t.Fatal(err)
	}
	l.inZone = tls.Certificate{Certificate: [][]byte{issued.DER, c.Intermediate().Raw}, PrivateKey: key}

	rootKey, err := local.ReadRootKey(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	rogueKey := newKey(t)
	rogue := sign(t, &x509.Certificate{
		SerialNumber: big.NewInt(100), Subject: pkix.Name{CommonName: "rogue intermediate, no constraints"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}, l.root, &rogueKey.PublicKey, rootKey)
	outKey := newKey(t)
	outLeaf := sign(t, &x509.Certificate{
		SerialNumber: big.NewInt(101), DNSNames: []string{l.outName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, rogue, &outKey.PublicKey, rogueKey)
	l.outZone = tls.Certificate{Certificate: [][]byte{outLeaf.Raw, rogue.Raw}, PrivateKey: outKey}

	l.interFile, l.rogueFile = writePEM(t, dir, "intermediate.pem", c.Intermediate().Raw), writePEM(t, dir, "rogue.pem", rogue.Raw)
	l.inFile, l.outFile = writePEM(t, dir, "in.pem", issued.DER), writePEM(t, dir, "out.pem", outLeaf.Raw)
	return l
}

func sign(t *testing.T, tmpl, parent *x509.Certificate, pub any, key any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writePEM(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveTLS serves a page with cert on 127.0.0.1 and returns its port.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>device</title><p>hello")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

// TestRootConstraintsInChromium: with the root put into its NSS database
// by `lantls trust install` (a temporary HOME), Chromium loads a name in
// the zone as a secure context and refuses a name outside it, signed by an
// intermediate made with the root's own key, with a name-constraint error.
func TestRootConstraintsInChromium(t *testing.T) {
	browsertest.Require(t)
	l := newRootLab(t)
	tl := newTrustLab(t)
	r := mustRun(t, nil, lantlsBin, "trust", "install", "--root", l.rootFile, "--system=false", "--home", tl.home)
	if !strings.Contains(r.stdout, "NSS "+tl.nssdb+": added") {
		t.Fatalf("trust install did not fill the NSS database:\n%s", r)
	}
	inPort, outPort := serveTLS(t, l.inZone), serveTLS(t, l.outZone)
	netLog := filepath.Join(t.TempDir(), "netlog.json")
	b, err := browsertest.Launch(t.TempDir(), browsertest.Options{
		Home:              tl.home,
		HostResolverRules: "MAP " + l.inName + " 127.0.0.1, MAP " + l.outName + " 127.0.0.1",
		Timeout:           2 * time.Minute,
		// The net log holds the certificate verifier's reasons.
		Flags: map[string]any{"log-net-log": netLog},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	tab := b.NewTab(t)
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	inURL := "https://" + net.JoinHostPort(l.inName, inPort) + "/"
	if err := chromedp.Do(ctx, chromedp.Navigate(inURL)); err != nil {
		t.Fatalf("open %s: %v", inURL, err)
	}
	secure, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.isSecureContext`))
	if err != nil {
		t.Fatal(err)
	}
	if !secure {
		t.Errorf("%s is not a secure context", inURL)
	}

	tab = b.NewTab(t)
	ctx, cancel = context.WithTimeout(tab, time.Minute)
	defer cancel()
	outURL := "https://" + net.JoinHostPort(l.outName, outPort) + "/"
	// Chromium 156 reports a name a trust anchor's constraints refuse as
	// ERR_CERT_INVALID; its verifier's reason is in the net log.
	err = chromedp.Do(ctx, chromedp.Navigate(outURL))
	if err == nil || !strings.Contains(err.Error(), "net::ERR_CERT_INVALID") {
		t.Errorf("open %s: %v, want net::ERR_CERT_INVALID", outURL, err)
	}
	b.Close() // flushes the net log
	log, err := os.ReadFile(netLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`ERROR: Not permitted by name constraints`, `enforce_anchor_constraints`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("Chromium's net log does not say %q", want)
		}
	}
}

// TestRootConstraintsOpenSSLAndGo: the same two certificates with openssl
// verify and crypto/x509: the name in the zone verifies, the one outside
// is refused for the root's name constraints.
func TestRootConstraintsOpenSSLAndGo(t *testing.T) {
	l := newRootLab(t)
	requireTool(t, "openssl", "openssl")
	r := run(t, nil, "openssl", "verify", "-CAfile", l.rootFile, "-untrusted", l.interFile, "-verify_hostname", l.inName, l.inFile)
	if r.code != 0 || !strings.Contains(r.stdout, ": OK") {
		t.Errorf("openssl verify of the name in the zone:\n%s", r)
	}
	r = run(t, nil, "openssl", "verify", "-CAfile", l.rootFile, "-untrusted", l.rogueFile, l.outFile)
	if r.code == 0 || !strings.Contains(r.output(), "permitted subtree violation") {
		t.Errorf("openssl verify of the name outside the zone:\n%s", r)
	}

	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(l.root)
	for _, c := range []tls.Certificate{l.inZone, l.outZone} {
		ic, _ := x509.ParseCertificate(c.Certificate[1])
		inters.AddCert(ic)
	}
	verify := func(c tls.Certificate, name string) error {
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inters})
		return err
	}
	if err := verify(l.inZone, l.inName); err != nil {
		t.Errorf("crypto/x509, name in the zone: %v", err)
	}
	var invalid x509.CertificateInvalidError
	if err := verify(l.outZone, l.outName); !errors.As(err, &invalid) || invalid.Reason != x509.CANotAuthorizedForThisName {
		t.Errorf("crypto/x509, name outside the zone: %v, want CANotAuthorizedForThisName", err)
	}
}
