package web

import "testing"

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
