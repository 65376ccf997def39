package web

import (
	"net/netip"
	"slices"
	"testing"
)

func TestCompareNetworks(t *testing.T) {
	for _, c := range []struct {
		device, browser string
		want            network
	}{
		{"127.0.0.1", "127.0.0.1", sameNetwork},
		{"192.168.1.20", "192.168.1.7", sameNetwork},
		{"192.168.1.20", "192.168.2.7", otherNetwork},
		{"198.51.100.7", "192.168.1.7", otherNetwork},
		{"2001:db8:1:2::/64", "2001:db8:1:2::/64", sameNetwork},
		{"2001:db8:1:3::/64", "2001:db8:1:2::/64", otherNetwork},
		{"192.168.1.20", "2001:db8:1:2::/64", unknownNetwork},
		{"", "192.168.1.7", unknownNetwork},
	} {
		if got := compareNetworks(c.device, c.browser); got != c.want {
			t.Errorf("compareNetworks(%q, %q) = %d, want %d", c.device, c.browser, got, c.want)
		}
	}
}

func TestLinks(t *testing.T) {
	s := &Server{cfg: Config{Zone: "lan.test"}}
	var addrs []netip.Addr
	for _, a := range []string{"192.168.1.20", "fe80::1", "127.0.0.1", "::1", "fd00::20", "169.254.1.2", "::ffff:10.0.0.1"} {
		addrs = append(addrs, netip.MustParseAddr(a))
	}
	for _, c := range []struct {
		loopback bool
		want     []string
	}{
		{false, []string{"192.168.1.20", "fd00::20", "169.254.1.2", "10.0.0.1"}},
		{true, []string{"192.168.1.20", "127.0.0.1", "::1", "fd00::20", "169.254.1.2", "10.0.0.1"}},
	} {
		var got []string
		for _, l := range s.links(addrs, "abc", 0, c.loopback) {
			got = append(got, l.Addr)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("links(loopback %v) = %v, want %v", c.loopback, got, c.want)
		}
	}
}

func TestLinkPorts(t *testing.T) {
	s := &Server{cfg: Config{Zone: "lan.test"}}
	a := []netip.Addr{netip.MustParseAddr("192.168.1.20")}
	for port, want := range map[int]string{0: "https://192-168-1-20.abc.lan.test/", 443: "https://192-168-1-20.abc.lan.test/", 8443: "https://192-168-1-20.abc.lan.test:8443/"} {
		if ls := s.links(a, "abc", port, false); len(ls) != 1 || ls[0].URL != want {
			t.Errorf("port %d: %+v, want %s", port, ls, want)
		}
	}
}
