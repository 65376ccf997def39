package deviceserver_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
)

// TestAddresses: a report replaces the device's addresses, in order and
// once each, and answers them with their address-names; the DNS is told
// before the answer.
func TestAddresses(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	devName := names.DeviceName(d.Label, "lan.test")
	resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, `{"addresses": ["192.168.1.20", "fd00::20", "192.168.1.20", "::ffff:192.168.1.20"]}`)
	var ans deviceapi.AddressAnswer
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" ||
		json.Unmarshal([]byte(body), &ans) != nil {
		t.Fatalf("PUT addresses: %s %s", resp.Status, body)
	}
	wantNames := []string{"192-168-1-20." + devName, "fd00-0-0-0-0-0-0-20." + devName}
	if strings.Join(ans.Addresses, " ") != "192.168.1.20 fd00::20" || !slices.Equal(ans.Names, wantNames) {
		t.Errorf("answer = %+v, want the two addresses once each and their names %v", ans, wantNames)
	}
	if n := h.refreshes.Load(); n != 1 {
		t.Errorf("AddressesChanged called %d times, want 1", n)
	}
	dd, err := h.store.GetDeviceDNS(t.Context(), d.ID)
	if err != nil || len(dd.Addresses) != 2 || dd.Port != 0 {
		t.Fatalf("stored %+v, %v", dd, err)
	}

	// The port the device serves HTTPS on travels with the addresses, for
	// the owner's links; 443 is stored as none.
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"addresses": ["192.168.1.20", "fd00::20"], "port": 8443}`, 8443},
		{`{"addresses": ["192.168.1.20", "fd00::20"], "port": 443}`, 0},
		{`{"addresses": ["192.168.1.20", "fd00::20"], "port": 4443}`, 4443},
		{`{"addresses": ["192.168.1.20", "fd00::20"]}`, 0},
	} {
		if resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, c.body); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", c.body, resp.Status, body)
		}
		if dd, err := h.store.GetDeviceDNS(t.Context(), d.ID); err != nil || dd.Port != c.want || len(dd.Addresses) != 2 {
			t.Errorf("after %s: %+v, %v; want port %d", c.body, dd, err, c.want)
		}
	}
	if n := h.refreshes.Load(); n != 1 {
		t.Errorf("AddressesChanged called %d times after port changes alone, want 1", n)
	}

	// An empty list clears them.
	if resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, `{"addresses": []}`); resp.StatusCode != http.StatusOK || body != `{"addresses":[],"names":[]}`+"\n" {
		t.Fatalf("clear: %s %s", resp.Status, body)
	}
	if dd, err := h.store.GetDeviceDNS(t.Context(), d.ID); err != nil || len(dd.Addresses) != 0 {
		t.Errorf("after clearing: %+v, %v", dd, err)
	}
}

// TestAddressesRefused: bad reports are 400 malformed problems that say
// what was wrong, and change nothing.
func TestAddressesRefused(t *testing.T) {
	h := newHarness(t, deviceserver.Config{})
	d, token := h.device(t, "alice")
	if resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, `{"addresses": ["192.168.1.20"]}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT addresses: %s %s", resp.Status, body)
	}
	for _, c := range []struct{ body, want string }{
		{`{"addresses": ["192.168.1.21", "8.8.8.8"]}`, "8.8.8.8 is outside the ranges the zone answers for (10.0.0.0/8, "},
		{`{"addresses": ["192.168.1.22"], "addresses": ["192.168.1.23"]}`, `the body has \"addresses\" twice`},
		{`{"addresses": ["fe80::1%eth0"]}`, "without a %zone"},
		{`{"addresses": ["not-an-ip"]}`, "is not an IPv4 or IPv6 address"},
		{`{}`, `no \"addresses\" list`},
		{`[1]`, "the body is not"},
		{`{"addresses": [], "x": 1}`, "unknown field"},
		{`{"addresses": []} {}`, "more than one JSON value"},
		{`{"addresses": [], "port": 70000}`, "port 70000 is not a TCP port"},
		{`{"addresses": [], "port": -1}`, "port -1 is not a TCP port"},
		{`{"addresses": [], "port": "443"}`, "the body is not"},
		{`{"addresses": ["` + strings.Repeat(`192.168.1.1", "`, 40) + `192.168.1.1"]}`, "41 addresses; at most 32"},
		{`{"addresses": ["` + strings.Repeat("1", 20<<10) + `"]}`, "the body is not"},
	} {
		resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, c.body)
		wantProblem(t, c.body[:min(len(c.body), 60)], resp, body, http.StatusBadRequest, problem.Malformed)
		if !strings.Contains(body, c.want) {
			t.Errorf("body %.60s: %s, want it to say %q", c.body, body, c.want)
		}
	}
	resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, `{"addresses": []}`, "Content-Type", "text/plain")
	wantProblem(t, "text/plain", resp, body, http.StatusBadRequest, problem.Malformed)
	if dd, err := h.store.GetDeviceDNS(t.Context(), d.ID); err != nil || len(dd.Addresses) != 1 || dd.Addresses[0].String() != "192.168.1.20" {
		t.Errorf("refused reports changed the addresses: %+v, %v", dd, err)
	}
	if n := h.refreshes.Load(); n != 1 {
		t.Errorf("AddressesChanged called %d times, want 1", n)
	}
}

// TestUnchangedAddressReport: reporting the same addresses again writes
// nothing (the store's DNS change counter, which the DNS index follows,
// does not move) and counts against no limit; changes are limited per
// device.
func TestUnchangedAddressReport(t *testing.T) {
	h := newHarness(t, deviceserver.Config{Limits: writesPerHour(3)})
	_, token := h.device(t, "alice")
	const report = `{"addresses": ["192.168.1.20"]}`
	if resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, report); resp.StatusCode != http.StatusOK {
		t.Fatalf("first report: %s %s", resp.Status, body)
	}
	before, err := h.store.DNSVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, report); resp.StatusCode != http.StatusOK {
			t.Fatalf("unchanged report %d: %s %s", i+1, resp.Status, body)
		}
	}
	if after, err := h.store.DNSVersion(t.Context()); err != nil || after != before {
		t.Errorf("unchanged reports moved the DNS version from %d to %d (%v)", before, after, err)
	}
	if n := h.refreshes.Load(); n != 1 {
		t.Errorf("AddressesChanged called %d times, want once, for the first report", n)
	}
	// Two more changes use up the limit of 3; the next is refused.
	for _, r := range []string{`{"addresses": ["192.168.1.21"]}`, `{"addresses": ["192.168.1.22"]}`} {
		if resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, r); resp.StatusCode != http.StatusOK {
			t.Fatalf("change %s: %s %s", r, resp.Status, body)
		}
	}
	resp, body := h.do(t, "PUT", deviceapi.PathAddresses, token, `{"addresses": ["192.168.1.23"]}`)
	wantProblem(t, "a change past the limit", resp, body, http.StatusTooManyRequests, problem.RateLimited)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("a change past the limit has no Retry-After")
	}
}

// FuzzParseAddressReport checks that any body either fails or gives at
// most deviceapi.MaxAddresses distinct addresses, each in the allowed
// ranges, and a TCP port other than 443.
func FuzzParseAddressReport(f *testing.F) {
	for _, s := range []string{
		`{"addresses": ["192.168.1.20", "fd00::20"], "port": 8443}`, `{"addresses": []}`, `{}`, `null`, `[1]`,
		`{"addresses": ["::ffff:10.0.0.1", "10.0.0.1"], "port": 443}`, `{"addresses": ["fe80::1%eth0"]}`,
		`{"addresses": [" 192.168.1.20 "], "port": -1}`, `{"addresses": [], "addresses": []}`, `{"addresses": []} 1`,
	} {
		f.Add([]byte(s))
	}
	allow := dnsserver.DefaultAllow
	f.Fuzz(func(t *testing.T, b []byte) {
		addrs, port, err := deviceserver.ParseAddressReport(strings.NewReader(string(b)), allow)
		if err != nil {
			return
		}
		if len(addrs) > deviceapi.MaxAddresses || port < 0 || port > 65535 || port == 443 {
			t.Fatalf("%d addresses, port %d", len(addrs), port)
		}
		seen := map[netip.Addr]bool{}
		for _, a := range addrs {
			if seen[a] || a.Zone() != "" || a.Is4In6() || !slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(a) }) {
				t.Fatalf("address %s: repeated, zoned, mapped or outside the ranges", a)
			}
			seen[a] = true
		}
	})
}
