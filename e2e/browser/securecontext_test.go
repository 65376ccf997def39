package browser

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// pageState is what the device page's JavaScript environment says about
// itself.
type pageState struct {
	Secure bool   `json:"secure"`
	Subtle bool   `json:"subtle"`
	Origin string `json:"origin"`
	Title  string `json:"title"`
}

const pageStateJS = `({secure: window.isSecureContext, subtle: !!(window.crypto && window.crypto.subtle), origin: location.origin, title: document.title})`

// TestDevicePageIsSecureContext opens the device's address-name over
// HTTPS: Chromium verifies the agent's certificate against the profile's
// one root (no interstitial: the page itself loads) and makes the page a
// secure context with Web Crypto.
func TestDevicePageIsSecureContext(t *testing.T) {
	t.Parallel()
	l := local(t)
	tab := l.browser.NewTab(t)
	log := watch(t, tab)
	url := l.tv.origin + "/"
	if err := navigate(tab, url); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	st := eval[pageState](t, tab, pageStateJS)
	want := pageState{Secure: true, Subtle: true, Origin: l.tv.origin, Title: "Living-room TV"}
	if st != want {
		t.Errorf("page state %+v, want %+v", st, want)
	}
	resp := log.response(url)
	if resp == nil || resp.Response.SecurityDetails == nil {
		t.Fatalf("no security details for %s", url)
	}
	sd := resp.Response.SecurityDetails
	if resp.Response.SecurityState != "secure" {
		t.Errorf("security state %s, want secure", resp.Response.SecurityState)
	}
	wantSANs := []string{l.tv.label + "." + zone, "*." + l.tv.label + "." + zone}
	if !slices.Equal(sd.SanList, wantSANs) {
		t.Errorf("certificate names %v, want %v", sd.SanList, wantSANs)
	}
	// Chromium's resolver rules stand in for the zone: the issuer's DNS
	// server answers the same address for the name.
	host, _, _ := net.SplitHostPort(l.tv.host())
	if rcode, a := l.resolve(t, host); rcode != dns.RcodeSuccess || a != "127.0.0.1" {
		t.Errorf("the issuer's DNS answers %s with %s %q, want 127.0.0.1", host, dns.RcodeToString[rcode], a)
	}
	t.Logf("security: %s %s, subject %q, issuer %q, SANs %v, state %s", sd.Protocol, sd.Cipher, sd.SubjectName, sd.Issuer, sd.SanList, resp.Response.SecurityState)
	screenshot(t, tab, "device-page")
}

// TestNameOutsideCertificateRefused: the device's certificate names L.Z
// and *.L.Z only; Chromium refuses any other name the device answers on,
// with the interstitial's error and no page.
func TestNameOutsideCertificateRefused(t *testing.T) {
	t.Parallel()
	l := local(t)
	_, port, _ := net.SplitHostPort(l.tv.addr)
	for name, host := range map[string]string{
		"two labels below the device": "a.b." + l.tv.label + "." + zone,
		"another device's name":       "127-0-0-1." + l.nas.label + "." + zone,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tab := l.browser.NewTab(t)
			url := "https://" + net.JoinHostPort(host, port) + "/"
			err := navigate(tab, url)
			if err == nil || !strings.Contains(err.Error(), "net::ERR_CERT_COMMON_NAME_INVALID") {
				t.Errorf("open %s: %v, want net::ERR_CERT_COMMON_NAME_INVALID", url, err)
			}
		})
	}
}
