package doctor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/names"
)

const zone = "hub1.home.arpa"

var label = names.Label([]byte("doctor test device"))

// pki is a root and a leaf for the device's names, signed by it.
type pki struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "doctor test root"},
		NotBefore:             time.Now().Add(-100 * 24 * time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	return &pki{root: root, rootKey: key}
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

// leaf returns a certificate for the device valid from notBefore to notAfter.
func (p *pki) leaf(t *testing.T, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		DNSNames:     names.CertNames(label, zone),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.root, key.Public(), p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveDevice serves HTTPS with cert on 127.0.0.1 and returns the device's
// URL under its loopback address-name.
func serveDevice(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the doctor hangs up after the handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "https://" + names.AddressName(netip.MustParseAddr("127.0.0.1"), label, zone) + ":" + port + "/"
}

// authoritative answers the zone as the issuer's DNS does: the SOA at the
// apex, address-names of the device with the address in them.
func authoritative(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	name := strings.TrimSuffix(strings.ToLower(q.Question[0].Name), ".")
	qt := q.Question[0].Qtype
	soa, _ := dns.NewRR(zone + ". 60 IN SOA ns." + zone + ". hostmaster." + zone + ". 1 60 60 60 60")
	prefix, l, ok := names.SplitDevice(name, zone)
	switch {
	case name == zone:
		if qt == dns.TypeSOA {
			m.Answer = append(m.Answer, soa)
		}
	case name == "tv."+zone:
		// A short name: the device's reported address.
		if qt == dns.TypeA {
			a, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 127.0.0.1")
			m.Answer = append(m.Answer, a)
		}
	case ok && l == label:
		if a, err := names.ParseAddressLabel(prefix); err == nil {
			hdr := dns.RR_Header{Name: q.Question[0].Name, Class: dns.ClassINET, Ttl: 60}
			if a.Is4() && qt == dns.TypeA {
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			} else if a.Is6() && qt == dns.TypeAAAA {
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
			break
		}
		m.Rcode = dns.RcodeNameError
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, soa)
	}
	w.WriteMsg(m)
}

// stripPrivate is a resolver with a DNS-rebind filter, as Unbound's
// private-address does it: answers of the zone's DNS that point at private
// or loopback addresses are removed, the rcode stays NOERROR.
func stripPrivate(w dns.ResponseWriter, q *dns.Msg) {
	rec := &recorder{ResponseWriter: w}
	authoritative(rec, q)
	m := rec.msg
	kept := m.Answer[:0]
	for _, a := range m.Answer {
		var ip net.IP
		switch a := a.(type) {
		case *dns.A:
			ip = a.A
		case *dns.AAAA:
			ip = a.AAAA
		}
		if ip != nil && (ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast()) {
			continue
		}
		kept = append(kept, a)
	}
	m.Answer = kept
	w.WriteMsg(m)
}

// nxdomain is a resolver that asks the internet, where a private zone does
// not exist.
func nxdomain(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeNameError)
	w.WriteMsg(m)
}

type recorder struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }

// serveDNS runs h on 127.0.0.1 over UDP and returns its address.
func serveDNS(t *testing.T, h dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	if cfg.NSSDBs == nil {
		cfg.NSSDBs = []string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteText(&b)
	t.Logf("report:\n%s", b.String())
	// --json must parse back to the same report.
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || len(back.Checks) != len(r.Checks) || back.OK != r.OK {
		t.Fatalf("JSON report does not parse back: %v\n%s", err, js)
	}
	return r
}

// want checks the status of each named check, and that each failure has a
// fix.
func want(t *testing.T, r *Report, statuses map[string]Status) {
	t.Helper()
	got := map[string]Status{}
	for _, c := range r.Checks {
		got[c.Name] = c.Status
		if c.Status == Fail && c.Fix == "" {
			t.Errorf("check %s failed with no fix: %s", c.Name, c.Detail)
		}
	}
	for name, s := range statuses {
		if got[name] != s {
			t.Errorf("check %s: got %q, want %q", name, got[name], s)
		}
	}
	failed := false
	for _, s := range statuses {
		failed = failed || s == Fail
	}
	if r.OK == failed {
		t.Errorf("report OK = %v, want %v", r.OK, !failed)
	}
}

func check(r *Report, name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

func TestHealthy(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	r := run(t, Config{Device: url, Resolver: serveDNS(t, authoritative), Roots: p.pool()})
	want(t, r, map[string]Status{"zone": OK, "rebind": OK, "resolve": OK, "reach": OK, "certificate": OK, "trust": OK, "trust-nss": Skip, "renewal": OK})
	if r.Zone != zone {
		t.Errorf("zone %q, want %q", r.Zone, zone)
	}
}

func TestRebindFilterStripsPrivateAnswers(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	r := run(t, Config{Device: url, Resolver: serveDNS(t, stripPrivate), Roots: p.pool()})
	want(t, r, map[string]Status{"zone": OK, "rebind": Fail, "resolve": Fail, "reach": Skip})
	wantRebindFix(t, check(r, "rebind"))
}

// wantRebindFix checks that the rebind failure names the setting to change
// on each kind of router.
func wantRebindFix(t *testing.T, c Check) {
	t.Helper()
	if !strings.Contains(c.Detail, "DNS-rebind filter") {
		t.Errorf("rebind detail %q does not name the filter", c.Detail)
	}
	settings := map[string]string{}
	for _, s := range c.Settings {
		settings[s.Product] = s.Setting
	}
	for product, setting := range map[string]string{
		"dnsmasq":   "rebind-domain-ok=/" + zone + "/",
		"Unbound":   `private-domain: "` + zone + `"`,
		"Pi-hole":   "rebind-domain-ok=/" + zone + "/",
		"OpenWrt":   "rebind_domain='" + zone + "'",
		"pfSense":   `private-domain: "` + zone + `"`,
		"Fritz!Box": "DNS Rebind Protection",
	} {
		if !strings.Contains(settings[product], setting) {
			t.Errorf("%s setting %q does not say %q", product, settings[product], setting)
		}
	}
}

func TestZoneNotForwarded(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	r := run(t, Config{Device: url, Resolver: serveDNS(t, nxdomain), Roots: p.pool(), Issuer: "https://10.9.8.7:8443"})
	want(t, r, map[string]Status{"zone": Fail, "rebind": Skip, "resolve": Fail})
	c := check(r, "zone")
	if len(c.Settings) != 6 || !strings.Contains(c.Settings[0].Setting, "server=/"+zone+"/10.9.8.7") {
		t.Errorf("zone fix settings %+v: want six, dnsmasq's server=/%s/10.9.8.7", c.Settings, zone)
	}
}

func TestExpiredCertificate(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)))
	r := run(t, Config{Device: url, Resolver: serveDNS(t, authoritative), Roots: p.pool()})
	want(t, r, map[string]Status{"reach": OK, "certificate": Fail, "trust": OK, "renewal": Skip})
	if c := check(r, "certificate"); !strings.Contains(c.Detail, "expired") || !strings.Contains(c.Fix, "restart the agent") {
		t.Errorf("certificate check %+v: want expired, restart the agent", c)
	}
}

func TestRenewalOverdue(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-40*24*time.Hour), time.Now().Add(2*24*time.Hour)))
	r := run(t, Config{Device: url, Resolver: serveDNS(t, authoritative), Roots: p.pool()})
	want(t, r, map[string]Status{"certificate": OK, "renewal": Fail})
}

func TestUntrustedRoot(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	resolver := serveDNS(t, authoritative)
	r := run(t, Config{Device: url, Resolver: resolver, Roots: x509.NewCertPool()})
	want(t, r, map[string]Status{"certificate": OK, "trust": Fail, "renewal": OK})
	if c := check(r, "trust"); !strings.Contains(c.Fix, "lantls trust install") {
		t.Errorf("trust fix %q does not say lantls trust install", c.Fix)
	}

	// With the issuer, the fix names its root's fingerprint.
	iss := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ca/root.pem" {
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw})
			return
		}
		http.NotFound(w, r)
	}))
	defer iss.Close()
	r = run(t, Config{Device: url, Issuer: iss.URL, Resolver: resolver, Roots: x509.NewCertPool()})
	want(t, r, map[string]Status{"trust": Fail, "issuer": OK})
	if c := check(r, "trust"); !strings.Contains(c.Fix, "--fingerprint "+fingerprint(p.root.Raw)) || !strings.Contains(c.Fix, "--issuer "+iss.URL) {
		t.Errorf("trust fix %q does not name the issuer and its root's fingerprint", c.Fix)
	}
}

func TestNameMismatch(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	// tv.ZONE has no label: the rebind probe is skipped, and the
	// certificate (L.Z, *.L.Z) does not carry the short name.
	resolver := serveDNS(t, func(w dns.ResponseWriter, q *dns.Msg) {
		if strings.HasPrefix(q.Question[0].Name, "tv.") {
			m := new(dns.Msg)
			m.SetReply(q)
			if q.Question[0].Qtype == dns.TypeA {
				a, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 127.0.0.1")
				m.Answer = append(m.Answer, a)
			}
			w.WriteMsg(m)
			return
		}
		authoritative(w, q)
	})
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/"))
	r := run(t, Config{Device: "tv." + zone + ":" + port, Resolver: resolver, Roots: p.pool()})
	want(t, r, map[string]Status{"zone": OK, "rebind": Skip, "resolve": OK, "certificate": Fail})
}

func TestUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	r := run(t, Config{Device: names.AddressName(netip.MustParseAddr("127.0.0.1"), label, zone) + ":" + port, Resolver: serveDNS(t, authoritative), Timeout: time.Second})
	want(t, r, map[string]Status{"resolve": OK, "reach": Fail, "certificate": Skip})
}

func TestNSS(t *testing.T) {
	if _, err := exec.LookPath("certutil"); err != nil {
		requireOrSkip(t, "certutil (libnss3-tools) is not installed")
	}
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	resolver := serveDNS(t, authoritative)
	db := t.TempDir()
	certutil(t, "-N", "-d", "sql:"+db, "--empty-password")
	r := run(t, Config{Device: url, Resolver: resolver, Roots: p.pool(), NSSDBs: []string{db}})
	want(t, r, map[string]Status{"trust": OK, "trust-nss": Fail})

	rootFile := filepath.Join(t.TempDir(), "root.pem")
	os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}), 0o644)
	certutil(t, "-A", "-d", "sql:"+db, "-n", "lantls doctor test root", "-t", "C,,", "-i", rootFile)
	r = run(t, Config{Device: url, Resolver: resolver, Roots: p.pool(), NSSDBs: []string{db}})
	want(t, r, map[string]Status{"trust": OK, "trust-nss": OK})
}

func certutil(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
		t.Fatalf("certutil %v: %v: %s", args, err, out)
	}
}

// requireOrSkip skips the test, or fails it where CI requires every
// external tool (LANTLS_E2E_REQUIRE=1).
func requireOrSkip(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("LANTLS_E2E_REQUIRE") != "" {
		t.Fatalf("%s, and LANTLS_E2E_REQUIRE is set", why)
	}
	t.Skip(why)
}

func TestTrustedNicknames(t *testing.T) {
	out := []byte(`
Certificate Nickname                                         Trust Attributes
                                                             SSL,S/MIME,JAR/XPI

lantls root with spaces                                      C,,  
someone's client cert                                        u,u,u
a valid CA, not an anchor                                    c,,
an email root                                                ,C,
both                                                         CT,C,C
`)
	got := trustedNicknames(out)
	if want := []string{"lantls root with spaces", "both"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("trustedNicknames = %q, want %q", got, want)
	}
}

func FuzzTrustedNicknames(f *testing.F) {
	f.Add([]byte("Certificate Nickname  Trust Attributes\n  SSL,S/MIME,JAR/XPI\n\nroot   C,,\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		for _, n := range trustedNicknames(out) {
			if n == "" || n != strings.TrimSpace(n) {
				t.Fatalf("nickname %q", n)
			}
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Device: "http://tv.example/"},
		{Device: "not a name"},
		{Device: "tv.example:99999"},
		{Issuer: "ftp://x"},
		{Device: "tv.example", Resolver: "nonsense"},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", cfg)
		}
	}
}

// TestShortNameFiltered checks a short name behind a rebind filter: no
// label to probe with, so the resolve failure itself names the filter's
// settings.
func TestShortNameFiltered(t *testing.T) {
	p := newPKI(t)
	url := serveDevice(t, p.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(47*24*time.Hour)))
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/"))
	r := run(t, Config{Device: "tv." + zone + ":" + port, Resolver: serveDNS(t, stripPrivate), Roots: p.pool()})
	want(t, r, map[string]Status{"zone": OK, "rebind": Skip, "resolve": Fail})
	if c := check(r, "resolve"); len(c.Settings) != 6 || !strings.Contains(c.Fix, "DNS-rebind protection") {
		t.Errorf("resolve fix %q with %d settings: want the rebind filter's", c.Fix, len(c.Settings))
	}
}
