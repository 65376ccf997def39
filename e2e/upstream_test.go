package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	"github.com/lantls/lantls/internal/pebble"
	"github.com/lantls/lantls/internal/testwait"
)

// upstreamIssuer is an issuer with --signer upstream brokering to a Pebble
// in this process, whose validation authority asks the issuer's DNS
// server, so every dns-01 challenge is validated for real.
type upstreamIssuer struct {
	*issuer
	pebble *pebble.Server
	dns    string   // the issuer's DNS address, fixed across restarts
	flags  []string // the upstream flags, for a restart
}

func startUpstreamIssuer(t *testing.T) *upstreamIssuer {
	t.Helper()
	addr := freeDNSAddr(t)
	peb, err := pebble.Start(pebble.Options{DNSServer: addr})
	if err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(peb.Close)
	bundle := filepath.Join(t.TempDir(), "pebble-tls.pem")
	if err := os.WriteFile(bundle, peb.TLSRootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	u := &upstreamIssuer{pebble: peb, dns: addr, flags: []string{
		"--signer", "upstream", "--upstream-directory", peb.Directory(), "--upstream-ca-bundle", bundle,
		"--dns-listen", addr,
	}}
	u.issuer = startIssuerOn(t, t.TempDir(), "127.0.0.1:0", u.flags...)
	// The account URL comes after the ready block.
	if !testwait.Until(30*time.Second, func() bool { return strings.Contains(u.stdout.String(), "Upstream account  https://") }) {
		t.Errorf("the issuer did not print its upstream account URL for CAA accounturi:\n%s", u.logs())
	}
	return u
}

// restart starts the issuer again on its data, port and DNS address.
func (u *upstreamIssuer) restart(t *testing.T) {
	t.Helper()
	u.issuer = startIssuerOn(t, u.Dir, strings.TrimPrefix(u.BaseURL, "https://"), u.flags...)
}

// freeDNSAddr is a loopback address whose port is free for TCP and UDP
// now: Pebble must know the issuer's DNS address before the issuer runs.
func freeDNSAddr(t *testing.T) string {
	t.Helper()
	addr, err := pebble.FreeDNSAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// verifyUpstreamChain checks that chain is the device's certificate and
// verifies against Pebble's root alone, for both of its names.
func (u *upstreamIssuer) verifyUpstreamChain(t *testing.T, d *device, chain []*x509.Certificate) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(u.pebble.Root())
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, name := range []string{d.Names[0], "192-168-1-20." + d.Names[0]} {
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
			t.Errorf("the certificate does not verify for %s against Pebble's root alone: %v", name, err)
		}
	}
	if len(chain[0].DNSNames) != 2 {
		t.Errorf("certificate names %v, want exactly %v", chain[0].DNSNames, d.Names)
	}
}

// dnsFollowsStore is how soon the issuer's DNS answers a change to the
// store (issue 20: within a second).
const dnsFollowsStore = time.Second

// checkNoTXT checks that the issuer's DNS serves no challenge record for
// the device any more.
func (u *upstreamIssuer) checkNoTXT(t *testing.T, d *device) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn("_acme-challenge."+d.Names[0]), dns.TypeTXT)
	// The records leave the store in the transaction that records the
	// certificate; the DNS index follows the store within a second.
	var left []dns.RR
	if testwait.Until(dnsFollowsStore, func() bool {
		in, err := dns.Exchange(m, u.dns)
		if err != nil {
			t.Fatalf("ask the issuer's DNS: %v", err)
		}
		left = nil
		for _, rr := range in.Answer {
			if _, ok := rr.(*dns.TXT); ok {
				left = append(left, rr)
			}
		}
		return len(left) == 0
	}) {
		return
	}
	for _, rr := range left {
		t.Errorf("the issuer still serves a challenge record %s after it issued: %s", dnsFollowsStore, rr)
	}
}

func TestUpstreamCertbot(t *testing.T) {
	requireTool(t, "certbot", "certbot")
	t.Parallel()
	u := startUpstreamIssuer(t)
	d := addDevice(t, u.issuer)
	cb := newCertbot(t, u.issuer)
	if r := cb.certonly(t, d, "device", d.Names...); r.code != 0 {
		t.Fatalf("certbot certonly failed:\n%s%s\n%s", r, cb.log(), u.logs())
	}
	chain := readChain(t, cb.live("device", "fullchain.pem"))
	u.verifyUpstreamChain(t, d, chain)
	u.checkNoTXT(t, d)
	csrs := u.pebble.CSRs()
	if len(csrs) == 0 || len(csrs[len(csrs)-1].DNSNames) != 2 {
		t.Errorf("the CSR that went upstream is not exactly the device's two names: %v", csrs)
	}

	r := cb.run(t, "revoke", "--cert-path", cb.live("device", "cert.pem"), "--reason", "superseded", "--no-delete-after-revoke")
	if r.code != 0 {
		t.Fatalf("certbot revoke failed:\n%s%s", r, cb.log())
	}
	if !u.pebble.Revoked(chain[0].SerialNumber) {
		t.Error("the revocation was not forwarded: Pebble does not list the certificate as revoked")
	}
}

func TestUpstreamRateLimitedReachesDevice(t *testing.T) {
	t.Parallel()
	u := startUpstreamIssuer(t)
	d := addDevice(t, u.issuer)
	ctx := acmeContext(t)
	cl := registerDevice(t, ctx, u.issuer, d)
	u.pebble.SetRateLimited(2 * time.Minute)
	_, _, err := orderDeviceCert(t, ctx, cl, d)
	wait, ok := acme.RateLimit(err)
	if !ok || wait != 2*time.Minute {
		t.Fatalf("finalize while the upstream is rate limited: %v (Retry-After %v), want rateLimited with the upstream's 2m0s", err, wait)
	}
	u.checkNoTXT(t, d)
}

func TestUpstreamOutageThenValid(t *testing.T) {
	t.Parallel()
	u := startUpstreamIssuer(t)
	d := addDevice(t, u.issuer)
	ctx := acmeContext(t)
	cl := registerDevice(t, ctx, u.issuer, d)
	u.pebble.SetDown(true)
	orderURL, csr, err := orderDeviceCert(t, ctx, cl, d)
	var ae *acme.OrderError
	if err != nil && !errors.As(err, &ae) {
		t.Logf("finalize during the outage: %v", err)
	}
	o, err := cl.GetOrder(ctx, orderURL)
	if err != nil || o.Status != acme.StatusProcessing {
		t.Fatalf("order during the outage: %+v, %v; want processing", o, err)
	}
	u.pebble.SetDown(false)
	chain := waitDeviceCert(t, ctx, cl, orderURL, csr)
	u.verifyUpstreamChain(t, d, chain)
	u.checkNoTXT(t, d)
}

func TestUpstreamKilledMidOrder(t *testing.T) {
	t.Parallel()
	u := startUpstreamIssuer(t)
	d := addDevice(t, u.issuer)
	ctx := acmeContext(t)
	cl := registerDevice(t, ctx, u.issuer, d)
	// The issuer reaches the upstream's finalize (order made, TXT records
	// put and validated) and is killed there.
	u.pebble.HoldFinalize(true)
	orderURL, csr, _ := orderDeviceCert(t, ctx, cl, d)
	if !testwait.Until(time.Minute, func() bool { return u.pebble.Finalizes() > 0 }) {
		t.Fatalf("the issuer did not reach the upstream's finalize in a minute\n%s", u.logs())
	}
	u.Kill(t)
	u.pebble.HoldFinalize(false)
	u.restart(t)
	chain := waitDeviceCert(t, ctx, cl, orderURL, csr)
	u.verifyUpstreamChain(t, d, chain)
	u.checkNoTXT(t, d)
}

// orderDeviceCert orders the device's names and finalizes with a new key's
// CSR, waiting for the certificate up to 10 s; it returns the order URL,
// the CSR and finalize's error.
func orderDeviceCert(t *testing.T, ctx context.Context, cl *acme.Client, d *device) (string, []byte, error) {
	t.Helper()
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(d.Names...))
	if err != nil {
		t.Fatalf("newOrder: %v", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: d.Names}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err = cl.CreateCertFromOrder(fctx, o, csr, true)
	return o.URI, csr, err
}

// waitDeviceCert waits for the order to be valid and downloads its chain.
func waitDeviceCert(t *testing.T, ctx context.Context, cl *acme.Client, orderURL string, csr []byte) []*x509.Certificate {
	t.Helper()
	o, err := cl.WaitOrder(ctx, orderURL)
	if err != nil {
		t.Fatalf("wait for the order: %v", err)
	}
	der, err := cl.FetchCert(ctx, o.CertURL, true)
	if err != nil {
		t.Fatalf("fetch the certificate: %v", err)
	}
	var chain []*x509.Certificate
	for _, b := range der {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	return chain
}
