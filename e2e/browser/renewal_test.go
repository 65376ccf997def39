package browser

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestRenewalServesNewCertificate: after the agent renews, a new
// connection from Chromium gets the new certificate. The serial Chromium
// saw comes from CDP (Network.getCertificate for the origin), the
// validity from the response's security details.
func TestRenewalServesNewCertificate(t *testing.T) {
	t.Parallel()
	l := local(t)
	d, err := l.startDevice(deviceOptions{Model: "Kitchen speaker", App: deviceApp("Kitchen speaker")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)

	before := d.agent.Certificate().Leaf
	if got := servedTo(t, l, d); got.SerialNumber.Cmp(before.SerialNumber) != 0 {
		t.Fatalf("Chromium saw serial %x, the agent serves %x", got.SerialNumber, before.SerialNumber)
	}
	d.agent.RenewNow()
	waitFor(t, pairTimeout, "the agent to renew", func() bool {
		c := d.agent.Certificate()
		return c != nil && c.Leaf.SerialNumber.Cmp(before.SerialNumber) != 0
	})
	after := d.agent.Certificate().Leaf
	got := servedTo(t, l, d)
	if got.SerialNumber.Cmp(after.SerialNumber) != 0 {
		t.Errorf("after renewal a new connection saw serial %x, want the new %x (old %x)", got.SerialNumber, after.SerialNumber, before.SerialNumber)
	}
}

// servedTo opens the device's page in a new browser context (so a new
// connection) and returns the leaf certificate Chromium was served, after
// checking it against the response's security details.
func servedTo(t *testing.T, l *lab, d *device) *x509.Certificate {
	t.Helper()
	tab := l.browser.NewTab(t)
	log := watch(t, tab)
	url := d.origin + "/"
	if err := navigate(tab, url); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCertificate, network.GetCertificateParams{Origin: d.origin})
	if err != nil || len(res.TableNames) == 0 {
		t.Fatalf("Network.getCertificate %s: %v, %v", d.origin, res, err)
	}
	der, err := base64.StdEncoding.DecodeString(res.TableNames[0])
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	resp := log.response(url)
	if resp == nil || resp.Response.SecurityDetails == nil {
		t.Fatalf("no security details for %s", url)
	}
	sd := resp.Response.SecurityDetails
	if from := time.Unix(int64(sd.ValidFrom), 0); !from.Equal(leaf.NotBefore) {
		t.Errorf("security details say valid from %s, the certificate %s", from, leaf.NotBefore)
	}
	return leaf
}
