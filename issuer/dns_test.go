package issuer_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/issuer"
	"github.com/lantls/lantls/names"
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
	var token string
	err = st.Update(ctx, func(tx store.Tx) error {
		token, err = deviceserver.NewToken(ctx, tx, d.ID, time.Now())
		return err
	})
	if err != nil {
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

// TestDeviceAddresses: the issuer mounts the device API (package
// deviceserver, which tests it) and the DNS answers show a device's
// reported addresses by the time the report is answered.
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

	// The ranges are the DNS server's.
	if resp, body := putAddresses(t, client, iss, token, `{"addresses": ["8.8.8.8"]}`); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "outside the ranges") {
		t.Errorf("a public address: %s %s, want 400", resp.Status, body)
	}

	// An empty list clears them.
	if resp, body := putAddresses(t, client, iss, token, `{"addresses": []}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("clear: %s %s", resp.Status, body)
	}
	if r := lookup(t, iss, devName, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("%s A after clearing: %v", devName, r)
	}
	// The metrics count the device API under one route.
	_, metrics := get(t, client, iss.Info().BaseURL+"/metrics")
	for _, want := range []string{`lantls_http_requests_total{code="200",route="device-api"} 2`, `lantls_http_requests_total{code="400",route="device-api"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
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
