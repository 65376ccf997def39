package onboard

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"html"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/internal/agenttest"
)

// TestOnboarding: against a real issuer, the page shows the code, the key
// fingerprint, the model, the expiry and the link, waits without a
// reload timer, refuses other Hosts with 421, and after the approval
// redirects to the device's https:// address-name.
func TestOnboarding(t *testing.T) {
	t.Parallel()
	d := agenttest.Start(t)
	code := d.Code()
	p := d.Agent.Pending()
	h := Handler(d.Agent, Config{HTTPSPort: "8443", Names: []string{"tv.local"}})
	get := func(host string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://"+host+"/", nil)
		r.Host = host
		// The request arrived on 192.168.1.20, as a browser near the
		// device reaches it before it has reported any address.
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(192, 168, 1, 20), Port: 80}))
		h.ServeHTTP(w, r)
		return w
	}
	w := get("192.168.1.20")
	body := w.Body.String()
	for _, want := range []string{code, "<svg", "Secure this device", `href="` + html.EscapeString(p.VerificationURIComplete), p.Fingerprint, "Key fingerprint", "test", "Code expires", "in 10 minutes", `data-state="` + code + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("onboarding page lacks %q", want)
		}
	}
	if i := strings.Index(body, `http-equiv="refresh"`); i < 0 || !strings.Contains(body[:i], "<noscript>") {
		t.Error("the page reloads on a timer even with scripts on")
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, scriptHash) || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q does not allow exactly the page's script", csp)
	}
	for _, host := range []string{"TV.local.", "192.168.1.20:8080", "[::ffff:192.168.1.20]"} {
		if w := get(host); w.Code != http.StatusOK {
			t.Errorf("Host %q: %d, want the page", host, w.Code)
		}
	}
	for _, host := range []string{"evil.example", "192.168.1.21", "tv.local.evil.example", ""} {
		if w := get(host); w.Code != http.StatusMisdirectedRequest || strings.Contains(w.Body.String(), code) {
			t.Errorf("Host %q: %d, want 421 without the code", host, w.Code)
		}
	}

	d.Approve()
	d.WaitReady()
	label, zone := d.Agent.Identity()
	want := "https://192-168-1-20." + label + "." + zone + ":8443/"
	if w := get("192.168.1.20"); w.Code != http.StatusFound || w.Header().Get("Location") != want {
		t.Errorf("after approval: %d %q, want a redirect to %q", w.Code, w.Header().Get("Location"), want)
	}
	if w := get("192-168-1-20." + label + "." + zone); w.Code != http.StatusFound {
		t.Errorf("the address-name after approval: %d, want a redirect", w.Code)
	}
}

// TestOnboardingHostFromConnection: an IP literal is the device's own when
// the request arrived on it, reported or not.
func TestOnboardingHostFromConnection(t *testing.T) {
	t.Parallel()
	dev := &fakeDevice{pending: &agent.Pairing{UserCode: "WDJB-MJHT", VerificationURI: "https://i/device"}}
	srv := httptest.NewServer(Handler(dev, Config{}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Host %s (the address the request came to): %s, want 200", strings.TrimPrefix(srv.URL, "http://"), resp.Status)
	}
}

// TestWait: /wait answers 205 once the state differs from the page's, so
// the page reloads only when something changed.
func TestWait(t *testing.T) {
	t.Parallel()
	dev := &fakeDevice{pending: &agent.Pairing{UserCode: "WDJB-MJHT", VerificationURI: "https://i/device"}}
	h := Handler(dev, Config{})
	done := make(chan int, 1)
	go func() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://127.0.0.1/wait?state=WDJB-MJHT", nil)
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}))
		h.ServeHTTP(w, r)
		done <- w.Code
	}()
	select {
	case code := <-done:
		t.Fatalf("wait answered %d before anything changed", code)
	case <-time.After(3 * waitTick):
	}
	dev.set(&agent.Pairing{UserCode: "BCDF-GHJK", VerificationURI: "https://i/device"})
	select {
	case code := <-done:
		if code != http.StatusResetContent {
			t.Errorf("wait after a new code: %d, want 205", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not answer the change")
	}
}

// FuzzOnboardingHost feeds arbitrary Host headers to the page of a device
// waiting for its owner: the code goes only to the device's own names
// and addresses; anything else is 421.
func FuzzOnboardingHost(f *testing.F) {
	for _, s := range []string{"192.168.1.20:8080", "[fd00::1%eth0]:80", "evil.example", "tv.local", "TV.LOCAL.", "[::ffff:192.168.1.20]", "", ":80"} {
		f.Add(s)
	}
	dev := &fakeDevice{
		pending: &agent.Pairing{UserCode: "WDJB-MJHT", VerificationURI: "https://i/device"},
		addrs:   []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("fd00::1")},
	}
	h := Handler(dev, Config{Names: []string{"tv.local"}})
	paired := Handler(&fakeDevice{cert: selfSigned(f), label: "abcdefghijklmnopqrstuvwxyz", addrs: dev.addrs}, Config{HTTPSPort: "8443", Names: []string{"tv.local"}})
	f.Fuzz(func(t *testing.T, host string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		paired.ServeHTTP(w, r)
		if loc, _ := url.Parse(w.Header().Get("Location")); w.Code == http.StatusFound &&
			(loc == nil || loc.Scheme != "https" || !strings.HasSuffix(loc.Hostname(), ".abcdefghijklmnopqrstuvwxyz.lan.test") || loc.Port() != "8443") {
			t.Fatalf("Host %q: paired device redirects to %q, want one of its address-names", host, w.Header().Get("Location"))
		}
		r = httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		shown := strings.Contains(w.Body.String(), "WDJB-MJHT")
		switch w.Code {
		case http.StatusOK:
			if !shown {
				t.Fatalf("Host %q: 200 without the code", host)
			}
			if !own(host) {
				t.Fatalf("Host %q: the code went to a Host that is not the device's", host)
			}
		case http.StatusMisdirectedRequest:
			if shown {
				t.Fatalf("Host %q: 421 with the code", host)
			}
		default:
			t.Fatalf("Host %q: status %d", host, w.Code)
		}
	})
}

// own is the test's own statement of which Hosts are the fake device's.
func own(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ip = ip.Unmap().WithZone("")
		return ip == netip.MustParseAddr("192.168.1.20") || ip == netip.MustParseAddr("fd00::1")
	}
	return strings.TrimSuffix(strings.ToLower(host), ".") == "tv.local"
}

// fakeDevice is a Device whose state the test sets.
type fakeDevice struct {
	mu      sync.Mutex
	pending *agent.Pairing
	cert    *tls.Certificate
	label   string
	addrs   []netip.Addr
}

func (d *fakeDevice) set(p *agent.Pairing) { d.mu.Lock(); d.pending = p; d.mu.Unlock() }

func (d *fakeDevice) Pending() *agent.Pairing {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending
}

func (d *fakeDevice) Certificate() *tls.Certificate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cert
}

func (d *fakeDevice) Identity() (string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.label == "" {
		return "", ""
	}
	return d.label, "lan.test"
}

func (d *fakeDevice) Addresses() []netip.Addr { return d.addrs }

// selfSigned is a certificate for the fake device.
func selfSigned(t testing.TB) *tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
