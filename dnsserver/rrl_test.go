package dnsserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(RRL{Rate: 10, Burst: 5, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56})
	now := time.Unix(1000, 0).UnixNano()
	a := netip.MustParseAddr("198.51.100.7")
	var got []rrlAction
	for range 9 {
		got = append(got, l.allow(a, now))
	}
	want := []rrlAction{rrlSend, rrlSend, rrlSend, rrlSend, rrlSend, rrlDrop, rrlSlip, rrlDrop, rrlSlip}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("burst of 9 at one instant: %v, want %v", got, want)
		}
	}
	// The same /24 shares the limit; another /24 and the same /56 in IPv6
	// behave as one source each.
	if l.allow(netip.MustParseAddr("198.51.100.200"), now) == rrlSend {
		t.Error("another address of the same /24 was not limited")
	}
	if l.allow(netip.MustParseAddr("198.51.101.7"), now) != rrlSend {
		t.Error("another /24 was limited")
	}
	if l.allow(netip.MustParseAddr("::ffff:198.51.100.9"), now) == rrlSend {
		t.Error("the IPv4-mapped form of the same /24 was not limited")
	}
	for range 5 {
		l.allow(netip.MustParseAddr("2001:db8:0:1::1"), now)
	}
	if l.allow(netip.MustParseAddr("2001:db8:0:ff::2"), now) == rrlSend {
		t.Error("another address of the same IPv6 /56 was not limited")
	}
	// A tenth of a second later one more response is allowed.
	if got := l.allow(a, now+int64(100*time.Millisecond)); got != rrlSend {
		t.Errorf("after 100 ms: %v, want send", got)
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	t.Parallel()
	l := newLimiter(RRL{Rate: 10, Burst: 5, Slip: 2, IPv4Prefix: 32, IPv6Prefix: 128})
	l.max = 100
	now := time.Now().UnixNano()
	for i := range 64 * l.max * 4 {
		b := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		l.allow(netip.AddrFrom4(b), now)
	}
	for i := range l.shards {
		if n := len(l.shards[i].m); n > l.max {
			t.Fatalf("shard %d holds %d prefixes, more than %d", i, n, l.max)
		}
	}
}

// TestRRLOverUDP checks the limit end to end: a client past it gets some
// answers truncated (so it would retry over TCP) and loses the others,
// and /metrics counts both.
func TestRRLOverUDP(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, func(c *Config) { c.RRL = RRL{Rate: 1, Burst: 3} })
	name := "192-168-1-20." + z.quiet.Label + "." + testZone + "."
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	var answered, truncated, lost int
	for range 9 {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := c.Exchange(m, z.addr)
		switch {
		case err != nil:
			lost++
		case r.Truncated && len(r.Answer) == 0:
			truncated++
		case len(r.Answer) == 1:
			answered++
		}
	}
	// The burst of 3 (4 if a second passed) is answered; the rest are
	// truncated or dropped, alternately.
	if answered == 0 || answered > 4 || truncated+lost < 5 || lost == 0 {
		t.Errorf("9 queries: %d answered, %d truncated, %d lost; want 3 or 4 answered, the rest split", answered, truncated, lost)
	}
	// A response that came after the client's timeout counts as lost
	// here without being dropped there.
	d, s := int(testutil.ToFloat64(z.srv.metrics.rrlDropped)), int(testutil.ToFloat64(z.srv.metrics.rrlSlipped))
	if d == 0 || d > lost || s < truncated || d+s > 9-answered {
		t.Errorf("lantls_dns_rrl_dropped_total = %d, lantls_dns_rrl_slipped_total = %d; the client saw %d answered, %d truncated, %d lost",
			d, s, answered, truncated, lost)
	}
	// TCP is never limited.
	for range 5 {
		if r := query(t, z.addr, "tcp", name, dns.TypeA, 0); len(r.Answer) != 1 {
			t.Fatalf("TCP past the limit: %v", r)
		}
	}
}
