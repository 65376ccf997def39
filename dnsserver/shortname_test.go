package dnsserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/store"
)

// TestShortNames checks that tv.Z answers the device's reported addresses
// in the allowed ranges but loopback and link-local, whatever its choice
// about L.Z, follows the store
// within a second, never shadows a name server's name, and goes with a
// revocation.
func TestShortNames(t *testing.T) {
	t.Parallel()
	z := newZone(t, testZone, nil)
	ctx := t.Context()
	// The quiet device does not publish L.Z; its short name answers anyway.
	if err := z.st.SetDeviceShortName(ctx, z.quiet.ID, store.ShortName{Name: "tv"}); err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fd00::20")}
	if err := z.st.SetDeviceAddresses(ctx, z.quiet.ID, addrs); err != nil {
		t.Fatal(err)
	}
	// A short name that a name server has keeps the name server's glue.
	if err := z.st.SetDeviceShortName(ctx, z.public.ID, store.ShortName{Name: "ns1"}); err != nil {
		t.Fatal(err)
	}
	tv := "tv." + testZone + "."
	within(t, time.Second, "short name", func() bool { return len(query(t, z.addr, "udp", tv, dns.TypeA, 0).Answer) == 1 })
	z.check(t, "tv A", query(t, z.addr, "udp", tv, dns.TypeA, 0), expect{aa: true, answer: []string{tv + " 60 IN A 192.168.1.20"}})
	z.check(t, "tv AAAA", query(t, z.addr, "udp", tv, dns.TypeAAAA, 0), expect{aa: true, answer: []string{tv + " 60 IN AAAA fd00::20"}})
	ns1 := "ns1." + testZone + "."
	z.check(t, "ns1 A", query(t, z.addr, "udp", ns1, dns.TypeA, 0), expect{aa: true, answer: []string{ns1 + " 60 IN A 192.0.2.53"}})

	d := *z.quiet
	d.Status, d.RevokedAt = store.StatusRevoked, time.Now()
	if err := z.st.UpdateDevice(ctx, &d); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "revocation", func() bool {
		return query(t, z.addr, "udp", tv, dns.TypeA, 0).Rcode == dns.RcodeNameError
	})
}
