package agent

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"rsc.io/qr"

	"github.com/lantls/lantls/names"
)

// Onboarding returns the handler for the device's plain-HTTP onboarding
// page: while the device waits for its owner it shows the user code, a QR
// code of the verification link and a "Secure this device" link to the
// issuer; once the device serves its certificate it redirects to the
// device's https:// address-name for the address the browser used, on
// httpsPort ("" or "443" for the default port). The page reloads itself
// every two seconds without JavaScript.
func (a *Agent) Onboarding(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if url := a.secureURL(r.Host, httpsPort); url != "" {
			http.Redirect(w, r, url+r.URL.RequestURI(), http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		io.WriteString(w, onboardPage(a.pending.Load()))
	})
}

// secureURL is the https:// address-name for the address in host, or for
// the first address the agent reported when host is a name; "" while the
// device has no certificate.
func (a *Agent) secureURL(host, httpsPort string) string {
	creds := a.credentials()
	if creds == nil || a.cert.Load() == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		addrs := a.Status().Addresses
		if len(addrs) == 0 {
			return ""
		}
		addr = netip.MustParseAddr(addrs[0])
	}
	u := "https://" + names.AddressName(addr.WithZone(""), creds.Label, creds.Zone)
	if httpsPort != "" && httpsPort != "443" {
		u += ":" + httpsPort
	}
	return u
}

// onboardPage is the page's HTML. It is written out by hand, with every
// value escaped, rather than with html/template: that package's reflection
// keeps every exported method in the binary, which cost the agent 1.9 MB.
func onboardPage(p *Pairing) string {
	var b strings.Builder
	b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="2"><title>Secure this device</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32em; margin: 2em auto; padding: 0 1em; text-align: center">
`)
	if p == nil {
		b.WriteString(`<h1>Starting…</h1>
<p>The device is contacting its issuer. This page reloads by itself.</p>
</body></html>
`)
		return b.String()
	}
	esc := html.EscapeString
	fmt.Fprintf(&b, `<h1>Secure this device</h1>
<p>Approve it in your lantls issuer to give it a real HTTPS certificate.</p>
<p style="font-size: 2.2em; letter-spacing: .12em; font-family: ui-monospace, monospace"><strong>%s</strong></p>
<p>%s</p>
<p><a href="%s" style="display: inline-block; padding: .8em 1.4em; background: #0b5; color: #fff; border-radius: .4em; text-decoration: none; font-size: 1.2em">Secure this device</a></p>
<p style="color: #555">Or open <code>%s</code> and enter the code. This page moves to the secure address once you approve.</p>
</body></html>
`, esc(p.UserCode), qrSVG(p.VerificationURIComplete), esc(safeURL(p.VerificationURIComplete)), esc(p.VerificationURI))
	return b.String()
}

// safeURL keeps only http(s) links: the issuer's answer must not be able
// to put a javascript: URL on the device's page.
func safeURL(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return u
	}
	return "#"
}

// qrSVG draws text as a QR code in SVG, one square per module; it holds
// only numbers, so it needs no escaping.
func qrSVG(text string) string {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return ""
	}
	var b strings.Builder
	const quiet = 4
	n := c.Size + 2*quiet
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="240" height="240" shape-rendering="crispEdges" role="img" aria-label="QR code of the approval link"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
