package browser

import (
	"net"
	"strings"
	"testing"
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
