package dnsserver

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantls/lantls/internal/testwait"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/store/sqlite"
)

const testZone = "lan.example.net"

// zoneFixture is a store with devices in it and a DNS server on it.
type zoneFixture struct {
	st      store.Store
	srv     *Server
	addr    string
	reg     *prometheus.Registry
	owner   *store.Owner
	quiet   *store.Device // reports addresses, publishes nothing (the zone's default)
	public  *store.Device // publishes its addresses
	revoked *store.Device
	crowded *store.Device // publishes 32 IPv6 addresses
}

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lantls.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func addDevice(t testing.TB, st store.Store, owner *store.Owner, status store.Status, p store.Publish, addrs ...string) *store.Device {
	t.Helper()
	ctx := t.Context()
	d := &store.Device{Label: names.RandomLabel(), OwnerID: owner.ID, Name: "device", Status: status}
	if err := st.CreateDevice(ctx, d); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	if err := st.SetDeviceAddresses(ctx, d.ID, as); err != nil {
		t.Fatalf("SetDeviceAddresses: %v", err)
	}
	if err := st.SetDevicePublish(ctx, d.ID, p); err != nil {
		t.Fatalf("SetDevicePublish: %v", err)
	}
	return d
}

// newZone builds the usual test zone and serves it on 127.0.0.1.
func newZone(t testing.TB, zone string, edit func(*Config)) *zoneFixture {
	t.Helper()
	ctx := t.Context()
	z := &zoneFixture{st: openStore(t), reg: prometheus.NewRegistry()}
	var err error
	if z.owner, err = z.st.EnsureOwner(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	z.quiet = addDevice(t, z.st, z.owner, store.StatusActive, store.PublishDefault, "192.168.1.20", "fd00::20")
	z.public = addDevice(t, z.st, z.owner, store.StatusActive, store.PublishOn, "10.0.0.5", "fd00::5")
	z.revoked = addDevice(t, z.st, z.owner, store.StatusRevoked, store.PublishOn, "192.168.1.30")
	var many []string
	for i := range 32 {
		many = append(many, fmt.Sprintf("fd00::%x", 0x100+i))
	}
	z.crowded = addDevice(t, z.st, z.owner, store.StatusActive, store.PublishOn, many...)
	if err := z.st.PutTXT(ctx, "_acme-challenge."+z.quiet.Label+"."+zone, "tok-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Zone:       zone,
		Source:     z.st,
		Listen:     "127.0.0.1:0",
		NS:         []NameServer{{Name: "ns1." + zone, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}, {Name: "ns2.other.example"}},
		CAA:        []CAA{mustCAA(t, "letsencrypt.org; accounturi=https://acme.example/acct/1; validationmethods=dns-01"), mustCAA(t, "issuewild ;")},
		RRL:        RRL{Off: true},
		Poll:       20 * time.Millisecond,
		Registerer: z.reg,
	}
	if edit != nil {
		edit(&cfg)
	}
	z.srv, err = New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { z.srv.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	z.addr = z.srv.Addr().String()
	return z
}

func mustCAA(t testing.TB, s string) CAA {
	t.Helper()
	c, err := ParseCAA(s)
	if err != nil {
		t.Fatalf("ParseCAA(%q): %v", s, err)
	}
	return c
}

// query asks q over net ("udp" or "tcp"); edns > 0 adds an OPT record
// with that buffer size.
func query(t *testing.T, addr, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// expect is a whole response: header flags, rcode and the sections as
// zone-file lines. SERIAL in a line stands for the zone's serial.
type expect struct {
	rcode  int
	aa, tc bool
	answer []string
	ns     []string
	extra  []string
}

func (z *zoneFixture) check(t *testing.T, what string, r *dns.Msg, want expect) {
	t.Helper()
	serial := fmt.Sprint(z.srv.idx.Load().serial)
	lines := func(rrs []dns.RR) []string {
		out := []string{}
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
		return out
	}
	wantLines := func(ls []string) []string {
		out := []string{}
		for _, l := range ls {
			out = append(out, strings.ReplaceAll(l, "SERIAL", serial))
		}
		return out
	}
	if !r.Response || r.RecursionAvailable || r.Rcode != want.rcode || r.Authoritative != want.aa || r.Truncated != want.tc {
		t.Errorf("%s: header qr=%v ra=%v rcode=%s aa=%v tc=%v; want qr, no ra, rcode=%s aa=%v tc=%v",
			what, r.Response, r.RecursionAvailable, dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated,
			dns.RcodeToString[want.rcode], want.aa, want.tc)
	}
	for _, sec := range []struct {
		name      string
		got, want []string
	}{
		{"answer", lines(r.Answer), wantLines(want.answer)},
		{"authority", lines(r.Ns), wantLines(want.ns)},
		{"additional", lines(r.Extra), wantLines(want.extra)},
	} {
		if strings.Join(sec.got, "\n") != strings.Join(sec.want, "\n") {
			t.Errorf("%s: %s section:\n got %q\nwant %q", what, sec.name, sec.got, sec.want)
		}
	}
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	q, p, rv := z.quiet.Label, z.public.Label, z.revoked.Label
	soa := "lan.example.net. 60 IN SOA ns1.lan.example.net. hostmaster.lan.example.net. SERIAL 3600 600 604800 60"
	tests := []struct {
		name  string
		qtype uint16
		want  expect
	}{
		{"192-168-1-20." + q + ".lan.example.net.", dns.TypeA, expect{aa: true,
			answer: []string{"192-168-1-20." + q + ".lan.example.net. 60 IN A 192.168.1.20"}}},
		{"fd00-0-0-0-0-0-0-20." + q + ".lan.example.net.", dns.TypeAAAA, expect{aa: true,
			answer: []string{"fd00-0-0-0-0-0-0-20." + q + ".lan.example.net. 60 IN AAAA fd00::20"}}},
		// Any address in the allowed ranges, reported or not: the name
		// says it all.
		{"10-9-8-7." + q + ".lan.example.net.", dns.TypeA, expect{aa: true,
			answer: []string{"10-9-8-7." + q + ".lan.example.net. 60 IN A 10.9.8.7"}}},
		{"fe80-0-0-0-0-0-0-1." + q + ".lan.example.net.", dns.TypeAAAA, expect{aa: true,
			answer: []string{"fe80-0-0-0-0-0-0-1." + q + ".lan.example.net. 60 IN AAAA fe80::1"}}},
		// Upper case in, the same case out.
		{"192-168-1-20." + strings.ToUpper(q) + ".LAN.Example.NET.", dns.TypeA, expect{aa: true,
			answer: []string{"192-168-1-20." + strings.ToUpper(q) + ".LAN.Example.NET. 60 IN A 192.168.1.20"}}},
		{"FD00-0-0-0-0-0-0-20." + q + ".lan.example.net.", dns.TypeAAAA, expect{aa: true,
			answer: []string{"FD00-0-0-0-0-0-0-20." + q + ".lan.example.net. 60 IN AAAA fd00::20"}}},
		{"192-168-1-20." + q + ".LAN.EXAMPLE.NET.", dns.TypeAAAA, expect{aa: true,
			ns: []string{strings.Replace(soa, "lan.example.net.", "LAN.EXAMPLE.NET.", 1)}}},
		// The address-name exists; it has no AAAA.
		{"192-168-1-20." + q + ".lan.example.net.", dns.TypeAAAA, expect{aa: true, ns: []string{soa}}},
		{"192-168-1-20." + q + ".lan.example.net.", dns.TypeTXT, expect{aa: true, ns: []string{soa}}},
		// Public addresses never resolve.
		{"8-8-8-8." + q + ".lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		{"2001-db8-0-0-0-0-0-1." + q + ".lan.example.net.", dns.TypeAAAA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		// Only the canonical spelling is a name.
		{"192-168-001-020." + q + ".lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		{"fd00-0-0-0-0-0-0-0020." + q + ".lan.example.net.", dns.TypeAAAA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		{"www.192-168-1-20." + q + ".lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		// A revoked device is gone, names and all.
		{"192-168-1-30." + rv + ".lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		{rv + ".lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		// As is a label nobody has.
		{"192-168-1-20." + names.RandomLabel() + ".lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		{"nothing.lan.example.net.", dns.TypeA, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		// Publishing off (the default of a public zone): L.Z exists, with
		// no addresses.
		{q + ".lan.example.net.", dns.TypeA, expect{aa: true, ns: []string{soa}}},
		{q + ".lan.example.net.", dns.TypeAAAA, expect{aa: true, ns: []string{soa}}},
		{q + ".lan.example.net.", dns.TypeANY, expect{aa: true, ns: []string{soa}}},
		// Publishing on.
		{p + ".lan.example.net.", dns.TypeA, expect{aa: true, answer: []string{p + ".lan.example.net. 60 IN A 10.0.0.5"}}},
		{p + ".lan.example.net.", dns.TypeAAAA, expect{aa: true, answer: []string{p + ".lan.example.net. 60 IN AAAA fd00::5"}}},
		{p + ".lan.example.net.", dns.TypeMX, expect{aa: true, ns: []string{soa}}},
		// ANY gets one RRset (RFC 8482).
		{p + ".lan.example.net.", dns.TypeANY, expect{aa: true, answer: []string{p + ".lan.example.net. 60 IN A 10.0.0.5"}}},
		// TXT for ACME, written through the store.
		{"_acme-challenge." + q + ".lan.example.net.", dns.TypeTXT, expect{aa: true,
			answer: []string{"_acme-challenge." + q + ".lan.example.net. 60 IN TXT \"tok-1\""}}},
		{"_ACME-Challenge." + q + ".lan.example.net.", dns.TypeTXT, expect{aa: true,
			answer: []string{"_ACME-Challenge." + q + ".lan.example.net. 60 IN TXT \"tok-1\""}}},
		{"_acme-challenge." + q + ".lan.example.net.", dns.TypeA, expect{aa: true, ns: []string{soa}}},
		{"_acme-challenge." + p + ".lan.example.net.", dns.TypeTXT, expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}}},
		// The apex.
		{"lan.example.net.", dns.TypeSOA, expect{aa: true,
			answer: []string{strings.Replace(soa, " 60 IN", " 3600 IN", 1)}}},
		{"Lan.Example.Net.", dns.TypeSOA, expect{aa: true,
			answer: []string{strings.Replace(strings.Replace(soa, " 60 IN", " 3600 IN", 1), "lan.example.net. ", "Lan.Example.Net. ", 1)}}},
		{"lan.example.net.", dns.TypeNS, expect{aa: true,
			answer: []string{"lan.example.net. 3600 IN NS ns1.lan.example.net.", "lan.example.net. 3600 IN NS ns2.other.example."},
			extra:  []string{"ns1.lan.example.net. 3600 IN A 192.0.2.53"}}},
		{"lan.example.net.", dns.TypeCAA, expect{aa: true, answer: []string{
			"lan.example.net. 3600 IN CAA 0 issue \"letsencrypt.org; accounturi=https://acme.example/acct/1; validationmethods=dns-01\"",
			"lan.example.net. 3600 IN CAA 0 issuewild \";\""}}},
		{"lan.example.net.", dns.TypeANY, expect{aa: true,
			answer: []string{strings.Replace(soa, " 60 IN", " 3600 IN", 1)}}},
		{"lan.example.net.", dns.TypeA, expect{aa: true, ns: []string{soa}}},
		{"ns1.lan.example.net.", dns.TypeA, expect{aa: true, answer: []string{"ns1.lan.example.net. 60 IN A 192.0.2.53"}}},
		{"ns1.lan.example.net.", dns.TypeAAAA, expect{aa: true, ns: []string{soa}}},
		// Out of zone: REFUSED, not authoritative, nothing else.
		{"example.com.", dns.TypeA, expect{rcode: dns.RcodeRefused}},
		{"example.net.", dns.TypeSOA, expect{rcode: dns.RcodeRefused}},
		{"xlan.example.net.", dns.TypeA, expect{rcode: dns.RcodeRefused}},
		{"192-168-1-20." + q + ".lan.example.org.", dns.TypeA, expect{rcode: dns.RcodeRefused}},
		{".", dns.TypeNS, expect{rcode: dns.RcodeRefused}},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			what := network + " " + tt.name + " " + dns.TypeToString[tt.qtype]
			z.check(t, what, query(t, z.addr, network, tt.name, tt.qtype, 0), tt.want)
		}
	}
}

func TestQuestionEchoed(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	name := "192-168-1-20." + strings.ToUpper(z.quiet.Label) + ".Lan.Example.Net."
	r := query(t, z.addr, "udp", name, dns.TypeA, 0)
	if len(r.Question) != 1 || r.Question[0].Name != name || r.Question[0].Qtype != dns.TypeA {
		t.Errorf("question = %v, want %s A as asked", r.Question, name)
	}
}

func TestEDNS(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	name := "192-168-1-20." + z.quiet.Label + "." + testZone + "."

	r := query(t, z.addr, "udp", name, dns.TypeA, 4096)
	opt := r.IsEdns0()
	if opt == nil || opt.UDPSize() != maxUDPSize || opt.Version() != 0 || opt.Do() {
		t.Fatalf("OPT = %v, want version 0, size %d, no DO", opt, maxUDPSize)
	}
	z.check(t, "EDNS query", r, expect{aa: true, answer: []string{name + " 60 IN A 192.168.1.20"}})

	// DO is copied (RFC 3225 section 3).
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, true)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, z.addr)
	if err != nil {
		t.Fatal(err)
	}
	if opt := r.IsEdns0(); opt == nil || !opt.Do() {
		t.Errorf("OPT = %v, want DO set", opt)
	}

	// An unknown EDNS version is BADVERS (RFC 6891 section 6.1.3).
	m = new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	r, _, err = (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, z.addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 || r.IsEdns0() == nil {
		t.Errorf("EDNS version 1: rcode %s, %d answers, OPT %v; want BADVERS with an OPT and no answer",
			dns.RcodeToString[r.Rcode], len(r.Answer), r.IsEdns0())
	}
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	name := z.crowded.Label + "." + testZone + "."
	var all []string
	for i := range 32 {
		all = append(all, fmt.Sprintf("%s 60 IN AAAA fd00::%x", name, 0x100+i))
	}

	// Without EDNS a UDP answer fits 512 bytes: some records and TC.
	r := query(t, z.addr, "udp", name, dns.TypeAAAA, 0)
	if !r.Truncated || r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 || len(r.Answer) >= 32 {
		t.Errorf("UDP without EDNS: tc=%v rcode=%s aa=%v %d answers; want TC, NOERROR, AA and some of the 32",
			r.Truncated, dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
	}
	r.Compress = true
	if n, _ := r.Pack(); len(n) > 512 {
		t.Errorf("UDP response without EDNS is %d bytes, more than 512", len(n))
	}
	// The client's EDNS buffer makes room for all of them; TCP always.
	z.check(t, "UDP with EDNS 1232", query(t, z.addr, "udp", name, dns.TypeAAAA, 1232), expect{aa: true, answer: all})
	z.check(t, "TCP", query(t, z.addr, "tcp", name, dns.TypeAAAA, 0), expect{aa: true, answer: all})
	// dns.Client retries over TCP when told to; so does every resolver.
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeAAAA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, z.addr)
	if err != nil || !r.Truncated {
		t.Fatalf("UDP: %v, tc=%v", err, r != nil && r.Truncated)
	}
	r, _, err = (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, z.addr)
	if err != nil || r.Truncated || len(r.Answer) != 32 {
		t.Errorf("TCP fallback: %v, tc=%v, %d answers; want 32", err, r != nil && r.Truncated, len(r.Answer))
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	name := "192-168-1-20." + z.quiet.Label + "." + testZone + "."
	c := &dns.Client{Timeout: 2 * time.Second}

	// Other classes than IN: REFUSED.
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	r, _, err := c.Exchange(m, z.addr)
	if err != nil || r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("CHAOS class: %v, %v; want REFUSED", err, r)
	}
	// An UPDATE: NOTIMP.
	m = new(dns.Msg)
	m.SetUpdate(testZone + ".")
	r, _, err = c.Exchange(m, z.addr)
	if err != nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("UPDATE: %v, %v; want NOTIMP", err, r)
	}
	// Two questions: FORMERR.
	m = new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	r, _, err = c.Exchange(m, z.addr)
	if err != nil || r.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %v, %v; want FORMERR", err, r)
	}
}

func TestFollowsStore(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	ctx := t.Context()
	name := "192-168-1-20." + z.public.Label + "." + testZone + "."
	soa := testZone + ". 60 IN SOA ns1." + testZone + ". hostmaster." + testZone + ". SERIAL 3600 600 604800 60"
	z.check(t, "before", query(t, z.addr, "udp", name, dns.TypeA, 0), expect{aa: true, answer: []string{name + " 60 IN A 192.168.1.20"}})

	// New addresses and a new TXT record show within a second.
	if err := z.st.SetDeviceAddresses(ctx, z.public.ID, []netip.Addr{netip.MustParseAddr("172.16.0.9")}); err != nil {
		t.Fatal(err)
	}
	txt := "_acme-challenge." + z.public.Label + "." + testZone + "."
	if err := z.st.PutTXT(ctx, strings.TrimSuffix(txt, "."), "fresh", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	devName := z.public.Label + "." + testZone + "."
	within(t, time.Second, "new addresses", func() bool {
		r := query(t, z.addr, "udp", devName, dns.TypeA, 0)
		return len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "172.16.0.9"
	})
	// Two commits: the index may have loaded between them.
	within(t, time.Second, "new TXT", func() bool { return len(query(t, z.addr, "udp", txt, dns.TypeTXT, 0).Answer) == 1 })
	z.check(t, "TXT", query(t, z.addr, "udp", txt, dns.TypeTXT, 0), expect{aa: true, answer: []string{txt + " 60 IN TXT \"fresh\""}})

	// A revocation turns every name of the device NXDOMAIN within a second.
	d := *z.public
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := z.st.UpdateDevice(ctx, &d); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "revocation", func() bool {
		return query(t, z.addr, "udp", name, dns.TypeA, 0).Rcode == dns.RcodeNameError
	})
	z.check(t, "after revocation", query(t, z.addr, "udp", name, dns.TypeA, 0),
		expect{rcode: dns.RcodeNameError, aa: true, ns: []string{soa}})
	// The TXT record stays (the store keeps it), so L.Z is an empty
	// non-terminal now: NODATA, not NXDOMAIN (RFC 8020).
	z.check(t, "L.Z after revocation", query(t, z.addr, "udp", devName, dns.TypeA, 0), expect{aa: true, ns: []string{soa}})

	// A deleted TXT record goes too, and the serial moves with every change.
	before := z.srv.idx.Load().serial
	if err := z.st.DeleteTXT(ctx, strings.TrimSuffix(txt, "."), "fresh"); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "TXT deletion", func() bool {
		return query(t, z.addr, "udp", txt, dns.TypeTXT, 0).Rcode == dns.RcodeNameError
	})
	r := query(t, z.addr, "udp", testZone+".", dns.TypeSOA, 0)
	if got := r.Answer[0].(*dns.SOA).Serial; got <= before {
		t.Errorf("SOA serial %d after a change, want more than %d", got, before)
	}
}

func TestTXTExpires(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	name := "_acme-challenge." + z.public.Label + "." + testZone
	if err := z.st.PutTXT(t.Context(), name, "short", time.Now().Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "TXT", func() bool {
		return len(query(t, z.addr, "udp", name+".", dns.TypeTXT, 0).Answer) == 1
	})
	// Nothing in the store changes at expiry: the index knows when.
	within(t, 3*time.Second, "TXT expiry", func() bool {
		return query(t, z.addr, "udp", name+".", dns.TypeTXT, 0).Rcode == dns.RcodeNameError
	})
}

func TestPublishByDefault(t *testing.T) {
	t.Parallel()
	// Under a special-use zone a device publishes unless its owner turns
	// it off.
	z := newZone(t, "lan.home.arpa", nil)
	quiet := z.quiet.Label + ".lan.home.arpa."
	z.check(t, "default on", query(t, z.addr, "udp", quiet, dns.TypeA, 0), expect{aa: true, answer: []string{quiet + " 60 IN A 192.168.1.20"}})
	if err := z.st.SetDevicePublish(t.Context(), z.quiet.ID, store.PublishOff); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "publishing off", func() bool {
		r := query(t, z.addr, "udp", quiet, dns.TypeA, 0)
		return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1
	})
}

func TestAllowedRanges(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, func(c *Config) { c.Allow = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")} })
	q := z.quiet.Label + "." + testZone + "."
	if r := query(t, z.addr, "udp", "192-168-1-20."+q, dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("192.168.1.20 inside --dns-allow: %v", r)
	}
	if r := query(t, z.addr, "udp", "10-0-0-1."+q, dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("10.0.0.1 outside --dns-allow: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// Published addresses outside the ranges are left out too.
	p := z.public.Label + "." + testZone + "."
	if r := query(t, z.addr, "udp", p, dns.TypeA, 0); len(r.Answer) != 0 {
		t.Errorf("published 10.0.0.5 outside --dns-allow answered: %v", r.Answer)
	}
}

// within fails t unless cond becomes true within d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, d, what, cond)
}
