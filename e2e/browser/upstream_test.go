package browser

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/internal/browsertest"
	"github.com/lantls/lantls/internal/pebble"
	"github.com/lantls/lantls/issuer"
)

// hub is the issuer's own name in the zone under the upstream signer: the
// upstream CA validates it with dns-01 in the issuer's zone, as it does
// the devices' names.
const hub = "hub." + zone

// TestUpstreamSecureContext is the connected-network path: the issuer
// brokers certificates from a public ACME CA (Pebble in-process,
// validating dns-01 against the issuer's own DNS server), and Chromium's
// profile trusts only Pebble's root, the stand-in for the public roots a
// browser ships, and not the lantls root. The owner logs in to the
// issuer's UI at its name in the zone and approves the device with no
// certificate warning, and the device's page is a secure context.
func TestUpstreamSecureContext(t *testing.T) {
	t.Parallel()
	browsertest.Require(t)
	e := &env{dir: t.TempDir()}
	t.Cleanup(e.close)
	dns, err := pebble.FreeDNSAddr()
	if err != nil {
		t.Fatal(err)
	}
	peb, err := pebble.Start(pebble.Options{DNSServer: dns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peb.Close)
	bundle := filepath.Join(e.dir, "pebble-tls.pem")
	if err := os.WriteFile(bundle, peb.TLSRootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	err = e.startIssuer(issuer.Config{
		Signer:    "upstream",
		Hostnames: []string{hub},
		DNSListen: dns,
		Upstream: issuer.UpstreamConfig{
			Directory: peb.Directory(),
			CABundle:  bundle,
			Limits:    upstream.DefaultLimits,
			DNSServer: dns,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	publicRoots := x509.NewCertPool()
	publicRoots.AddCert(peb.Root())
	_, issPort, _ := net.SplitHostPort(strings.TrimPrefix(e.iss.Info().BaseURL, "https://"))
	ui := "https://" + net.JoinHostPort(hub, issPort)
	waitFor(t, 2*time.Minute, "the issuer's own certificate for "+hub+" from the upstream CA", func() bool {
		return servesPublic(e.iss.Info().BaseURL, hub, publicRoots)
	})

	codes := make(chan string, 4)
	d, err := e.startDevice(deviceOptions{
		Model:     "Garage door",
		App:       deviceApp("Garage door"),
		OnPairing: func(p agent.Pairing) { codes <- p.UserCode },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	var code string
	select {
	case code = <-codes:
	case <-time.After(pairTimeout):
		t.Fatal("the agent showed no code")
	}

	b, err := browsertest.Launch(filepath.Join(e.dir, "chromium"), browsertest.Options{
		RootPEM:           peb.RootPEM(),
		HostResolverRules: "MAP *." + zone + " 127.0.0.1",
		Width:             1000, Height: 760,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tab := b.NewTab(t)
	log := watch(t, tab)

	// The owner UI, by the issuer's name, over the upstream CA's chain.
	do(t, tab, chromedp.Navigate(ui+"/device?user_code="+code))
	approveInUI(t, tab, code, "Garage door", "", "")
	wantPublicChain(t, log, ui+"/", peb.Root())

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := e.waitReady(ctx, d); err != nil {
		t.Fatal(err)
	}
	url := d.origin + "/"
	if err := navigate(tab, url); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	waitSecurePage(t, tab, d.origin, "Garage door")
	wantPublicChain(t, log, url, peb.Root())
	screenshot(t, tab, "device-page-upstream")
}

// servesPublic reports whether the issuer at base serves a certificate
// for name that verifies against roots.
func servesPublic(base, name string, roots *x509.CertPool) bool {
	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// wantPublicChain checks that Chromium got the last page from under
// prefix over a chain the upstream CA issued, as the response's security
// details tell.
func wantPublicChain(t *testing.T, log *netlog, prefix string, root *x509.Certificate) {
	t.Helper()
	resp := log.last(func(r *network.Response) bool {
		return strings.HasPrefix(r.URL, prefix) && r.MimeType == "text/html"
	})
	if resp == nil || resp.Response.SecurityDetails == nil {
		t.Fatalf("no security details for a response from %s", prefix)
	}
	url := resp.Response.URL
	sd := resp.Response.SecurityDetails
	if !strings.Contains(sd.Issuer, "Pebble Intermediate") || resp.Response.SecurityState != "secure" {
		t.Errorf("%s: issuer %q, security state %s, want Pebble's intermediate and secure", url, sd.Issuer, resp.Response.SecurityState)
	}
	t.Logf("%s: %s, issuer %q (root %q), certificate transparency %s", url, sd.Protocol, sd.Issuer, root.Subject.CommonName, sd.CertificateTransparencyCompliance)
}
