package issuer_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/issuer/issuertest"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// pairedDevice makes an active device with a bearer token, as pairing
// would, and returns it with the token.
func pairedDevice(t *testing.T, st store.Store) (*store.Device, string) {
	t.Helper()
	ctx := t.Context()
	o, err := st.EnsureOwner(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Device{Label: names.RandomLabel(), OwnerID: o.ID, Name: "TV", Status: store.StatusActive}
	if err := st.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	token := "lantls_at_test-" + d.Label
	sum := sha256.Sum256([]byte(token))
	if err := st.CreateToken(ctx, &store.Token{Hash: hex.EncodeToString(sum[:]), DeviceID: d.ID}); err != nil {
		t.Fatal(err)
	}
	return d, token
}

func putAddresses(t *testing.T, c *http.Client, iss *issuer.Issuer, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, iss.Info().BaseURL+"/api/v1/device/addresses", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}

func lookup(t *testing.T, iss *issuer.Issuer, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, iss.Info().DNS)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return r
}

func TestDeviceAddresses(t *testing.T) {
	iss, client := startIssuer(t, t.TempDir())
	d, token := pairedDevice(t, iss.Store())
	zone := iss.Info().Zone
	devName := names.DeviceName(d.Label, zone)

	resp, body := putAddresses(t, client, iss, token, `{"addresses": ["192.168.1.20", "fd00::20", "192.168.1.20"]}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("PUT addresses: %s %s", resp.Status, body)
	}
	var ans deviceapi.AddressAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"192-168-1-20." + devName, "fd00-0-0-0-0-0-0-20." + devName}
	if strings.Join(ans.Addresses, " ") != "192.168.1.20 fd00::20" || strings.Join(ans.Names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("answer = %+v, want the two addresses once each and their names %v", ans, wantNames)
	}
	// The DNS shows them when the response arrives: lan.test publishes by
	// default.
	r := lookup(t, iss, devName, dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.168.1.20" {
		t.Errorf("%s A right after the report: %v", devName, r.Answer)
	}
	r = lookup(t, iss, devName, dns.TypeAAAA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "fd00::20" {
		t.Errorf("%s AAAA right after the report: %v", devName, r.Answer)
	}

	// A public address: a clear 400 problem, nothing stored.
	resp, body = putAddresses(t, client, iss, token, `{"addresses": ["192.168.1.21", "8.8.8.8"]}`)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(string(body), "urn:ietf:params:acme:error:malformed") || !strings.Contains(string(body), "8.8.8.8 is outside the ranges") {
		t.Errorf("public address: %s %s", resp.Status, body)
	}
	for _, bad := range []string{`{"addresses": ["192.168.1.22"], "addresses": ["192.168.1.23"]}`, `{"addresses": ["fe80::1%eth0"]}`, `{"addresses": ["not-an-ip"]}`, `{}`, `[1]`, `{"addresses": [], "x": 1}`} {
		if resp, body := putAddresses(t, client, iss, token, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %s: %s %s, want 400", bad, resp.Status, body)
		}
	}
	if r := lookup(t, iss, devName, dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.168.1.20" {
		t.Errorf("a refused report changed the DNS: %v", r.Answer)
	}

	// No token or a wrong one: 401 with the Bearer challenge.
	for _, tok := range []string{"", "lantls_at_wrong"} {
		resp, body := putAddresses(t, client, iss, tok, `{"addresses": []}`)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("token %q: %s %s, want 401 with WWW-Authenticate: Bearer", tok, resp.Status, body)
		}
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
		if resp, body := putAddresses(t, client, iss, token, c.body); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", c.body, resp.Status, body)
		}
		if dd, err := iss.Store().GetDeviceDNS(t.Context(), d.ID); err != nil || dd.Port != c.want || len(dd.Addresses) != 2 {
			t.Errorf("after %s: %+v, %v; want port %d", c.body, dd, err, c.want)
		}
	}
	for _, bad := range []string{`{"addresses": [], "port": 70000}`, `{"addresses": [], "port": -1}`, `{"addresses": [], "port": "443"}`} {
		if resp, body := putAddresses(t, client, iss, token, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %s: %s %s, want 400", bad, resp.Status, body)
		}
	}

	// An empty list clears them.
	if resp, body := putAddresses(t, client, iss, token, `{"addresses": []}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("clear: %s %s", resp.Status, body)
	}
	if r := lookup(t, iss, devName, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("%s A after clearing: %v", devName, r)
	}
}

func TestInfoRanges(t *testing.T) {
	dir := t.TempDir()
	startIssuer(t, dir)
	info, err := issuer.ReadInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := info.Ranges()
	if err != nil || len(rs) != 9 || rs[0].String() != "10.0.0.0/8" || info.DNS == "" {
		t.Errorf("issuer.json: dns %q, ranges %v, %v; want the address and the 9 default ranges", info.DNS, rs, err)
	}
}

// zoneVersion reads the DNS index's version from the issuer's metrics.
func zoneVersion(t *testing.T, c *http.Client, iss *issuer.Issuer) string {
	t.Helper()
	_, body := get(t, c, iss.Info().BaseURL+"/metrics")
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "lantls_dns_zone_version ") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatal("no lantls_dns_zone_version in /metrics")
	return ""
}

// TestUnchangedAddressReport: reporting the same addresses again writes
// nothing (the store's change counter, which the DNS index follows, does
// not move) and counts against no limit; changes are limited per device.
func TestUnchangedAddressReport(t *testing.T) {
	limits := ratelimit.Defaults
	limits.DeviceWritesPerDevice = ratelimit.Limit{Name: "device-writes-per-device", Count: 3, Period: time.Hour}
	iss, roots := issuertest.Start(t, issuer.Config{Hostnames: []string{"localhost"}, Limits: limits})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	_, token := pairedDevice(t, iss.Store())
	const report = `{"addresses": ["192.168.1.20"]}`
	if resp, body := putAddresses(t, client, iss, token, report); resp.StatusCode != http.StatusOK {
		t.Fatalf("first report: %s %s", resp.Status, body)
	}
	before := zoneVersion(t, client, iss)
	for i := range 10 {
		if resp, body := putAddresses(t, client, iss, token, report); resp.StatusCode != http.StatusOK {
			t.Fatalf("unchanged report %d: %s %s", i+1, resp.Status, body)
		}
	}
	if after := zoneVersion(t, client, iss); after != before {
		t.Errorf("unchanged reports moved the DNS index from %q to %q", before, after)
	}
	// Two more changes use up the limit of 3; the next is refused.
	for _, r := range []string{`{"addresses": ["192.168.1.21"]}`, `{"addresses": ["192.168.1.22"]}`} {
		if resp, body := putAddresses(t, client, iss, token, r); resp.StatusCode != http.StatusOK {
			t.Fatalf("change %s: %s %s", r, resp.Status, body)
		}
	}
	resp, body := putAddresses(t, client, iss, token, `{"addresses": ["192.168.1.23"]}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "urn:ietf:params:acme:error:rateLimited") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("change past the limit: %s %q %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
}
