// Package onboard serves the agent's plain-HTTP onboarding page: while
// the device waits for its owner, the pairing code, the key fingerprint
// the approval page shows, a QR code and a "Secure this device" link;
// once the device has its certificate, a redirect to its https://
// address-name.
package onboard

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/names"
)

// Device is what the page shows of the agent; *agent.Agent is one.
type Device interface {
	// Pending is the code waiting for the owner, or nil.
	Pending() *agent.Pairing
	// Certificate is the certificate being served, or nil.
	Certificate() *tls.Certificate
	// Identity is the device's label and zone, "" before pairing.
	Identity() (label, zone string)
	// Addresses are the device's reported addresses.
	Addresses() []netip.Addr
}

// Config says where the page is and what it answers to.
type Config struct {
	// HTTPSPort is the port of the device's HTTPS server, for the
	// redirect after pairing; "" or "443" for the default.
	HTTPSPort string
	// Names are the host names the page answers to besides the device's
	// own IP addresses and address-names (e.g. "tv" and "tv.local");
	// compared without case or a trailing dot.
	Names []string
}

// Waits for the page's outcome.
const (
	// waitMax bounds one wait request: the page asks again after it.
	waitMax = 25 * time.Second
	// waitTick is how often a wait looks at the agent's state.
	waitTick = 200 * time.Millisecond
	// waiters bounds the wait requests held at once; more are answered
	// at once, and their pages ask again a few seconds later.
	waiters = 16
)

// Handler returns the onboarding page of d.
//
// It answers only requests whose Host is one of the device's own IP
// addresses (the one the request arrived on, or one the agent reported),
// one of its address-names, or one of cfg.Names, and any other Host with
// 421 Misdirected Request and no code: a DNS-rebinding page, or another
// user of the same issuer who can reach the device, would otherwise read
// the code and approve the device into their own account. The code's
// channel must reach only people near the device (RFC 8628 section 5.3;
// RFC 10027, BCP 247).
//
// The page learns the outcome by asking GET /wait, which holds the
// request until the code or the pairing changes (a script allowed by its
// hash in the Content-Security-Policy); without scripts it reloads every
// ten seconds.
func Handler(d Device, cfg Config) http.Handler {
	h := &handler{d: d, cfg: cfg, sem: make(chan struct{}, waiters)}
	for _, n := range cfg.Names {
		h.names = append(h.names, normalName(n))
	}
	return h
}

type handler struct {
	d     Device
	cfg   Config
	names []string
	sem   chan struct{}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.ownHost(r) {
		// RFC 9110 section 15.5.20: this server does not answer for
		// that authority.
		http.Error(w, "This page answers only at the device's own addresses: open http://ADDRESS-OF-THE-DEVICE/ near the device.", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path == "/wait" {
		h.wait(w, r)
		return
	}
	if url := h.secureURL(r.Host); url != "" {
		http.Redirect(w, r, url+r.URL.RequestURI(), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; script-src '"+scriptHash+"'")
	io.WriteString(w, page(h.d.Pending(), h.state(), time.Now()))
}

// ownHost reports whether r's Host names the device.
func (h *handler) ownHost(r *http.Request) bool {
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ip = ip.Unmap().WithZone("")
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap().WithZone("") == ip {
				return true
			}
		}
		return slices.ContainsFunc(h.d.Addresses(), func(a netip.Addr) bool { return a.Unmap().WithZone("") == ip })
	}
	name := normalName(host)
	if name == "" {
		return false
	}
	if slices.Contains(h.names, name) {
		return true
	}
	label, zone := h.d.Identity()
	own := label + "." + zone
	return label != "" && (name == own || strings.HasSuffix(name, "."+own))
}

func normalName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// state names what the page shows: the code, or "paired"; /wait answers
// when it changes.
func (h *handler) state() string {
	if h.d.Certificate() != nil {
		return "paired"
	}
	if p := h.d.Pending(); p != nil {
		return p.UserCode
	}
	return "starting"
}

// wait holds GET /wait?state=S until the state is no longer S (205 Reset
// Content: reload) or waitMax passes (204: ask again).
func (h *handler) wait(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), waitMax)
	defer cancel()
	t := time.NewTicker(waitTick)
	defer t.Stop()
	for {
		if h.state() != r.URL.Query().Get("state") {
			w.WriteHeader(http.StatusResetContent)
			return
		}
		select {
		case <-ctx.Done():
			w.WriteHeader(http.StatusNoContent)
			return
		case <-t.C:
		}
	}
}

// secureURL is the https:// address-name for the address in host, or for
// the first address the agent reported when host is a name; "" while the
// device has no certificate.
func (h *handler) secureURL(host string) string {
	label, zone := h.d.Identity()
	if label == "" || h.d.Certificate() == nil {
		return ""
	}
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		addrs := h.d.Addresses()
		if len(addrs) == 0 {
			return ""
		}
		addr = addrs[0]
	}
	u := "https://" + names.AddressName(addr.Unmap().WithZone(""), label, zone)
	if h.cfg.HTTPSPort != "" && h.cfg.HTTPSPort != "443" {
		u += ":" + h.cfg.HTTPSPort
	}
	return u
}

// script waits quietly for the outcome and reloads the page when it
// comes; scriptHash allows exactly it.
const script = `(async () => {
  const state = document.body.dataset.state;
  for (;;) {
    try {
      const r = await fetch("/wait?state=" + encodeURIComponent(state), {cache: "no-store"});
      if (r.status === 205) { location.reload(); return; }
      if (r.status !== 204) { throw new Error(r.status); }
    } catch (e) {
      await new Promise((ok) => setTimeout(ok, 5000));
    }
  }
})();`

var scriptHash = func() string {
	sum := sha256.Sum256([]byte(script))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

// page is the page's HTML. It is written out by hand, with every value
// escaped, rather than with html/template: that package's reflection
// keeps every exported method in the binary, which cost the agent 1.9 MB.
func page(p *agent.Pairing, state string, now time.Time) string {
	esc := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="10"></noscript><title>Secure this device</title></head>
<body data-state="%s" style="font-family: system-ui, sans-serif; max-width: 34em; margin: 2em auto; padding: 0 1em; text-align: center; color: #1a1a1a">
`, esc(state))
	if p == nil {
		b.WriteString(`<h1>Starting…</h1>
<p>The device is contacting its issuer. This page follows by itself.</p>
`)
	} else {
		fmt.Fprintf(&b, `<h1>Secure this device</h1>
<p>Approve it in your lantls issuer to give it a real HTTPS certificate.</p>
<p style="font-size: 2.2em; letter-spacing: .12em; font-family: ui-monospace, monospace; margin: .4em 0"><strong>%s</strong></p>
<p>%s</p>
<p><a href="%s" style="display: inline-block; padding: .8em 1.4em; background: #06662f; color: #fff; border-radius: .4em; text-decoration: none; font-size: 1.2em">Secure this device</a></p>
<p style="color: #444">Or open <code>%s</code> and enter the code.</p>
<dl style="display: inline-grid; grid-template-columns: auto auto; gap: .3em 1em; text-align: left; margin: 1em auto">
<dt>Key fingerprint</dt><dd style="margin: 0"><code>%s</code></dd>
`, esc(p.UserCode), qrSVG(p.VerificationURIComplete), esc(safeURL(p.VerificationURIComplete)), esc(p.VerificationURI), esc(p.Fingerprint))
		if p.Model != "" {
			fmt.Fprintf(&b, "<dt>Model</dt><dd style=\"margin: 0\">%s</dd>\n", esc(p.Model))
		}
		if p.Hostname != "" {
			fmt.Fprintf(&b, "<dt>Hostname</dt><dd style=\"margin: 0\">%s</dd>\n", esc(p.Hostname))
		}
		if !p.Expires.IsZero() {
			fmt.Fprintf(&b, "<dt>Code expires</dt><dd style=\"margin: 0\"><time datetime=\"%s\">%s</time></dd>\n",
				p.Expires.UTC().Format(time.RFC3339), esc(expiresIn(p.Expires, now)))
		}
		b.WriteString(`</dl>
<p style="color: #444">Check that the approval page shows the same key fingerprint. This page moves to the secure address once you approve.</p>
`)
	}
	fmt.Fprintf(&b, "<script>%s</script>\n</body></html>\n", script)
	return b.String()
}

// expiresIn says when the code expires, in words.
func expiresIn(t, now time.Time) string {
	switch d := t.Sub(now).Round(time.Minute); {
	case d <= 0:
		return "now; a new code follows"
	case d == time.Minute:
		return "in a minute"
	default:
		return fmt.Sprintf("in %d minutes", int(d.Minutes()))
	}
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
