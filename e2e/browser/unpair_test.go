package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/devices"
)

// TestUnpairedDeviceRefused: the owner unpairs the device (certificates
// revoked, account and tokens dead, its names gone from the zone) and the
// agent resets (lantls-agent reset --force: the issuer no longer accepts
// its account, so revocation cannot succeed and the state is wiped
// anyway). The device keeps listening, with no certificate to offer, and
// Chromium no longer connects.
func TestUnpairedDeviceRefused(t *testing.T) {
	t.Parallel()
	l := local(t)
	d, err := l.startDevice(deviceOptions{Model: "Hall thermostat", App: deviceApp("Hall thermostat")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	name := "127-0-0-1." + d.label + "." + zone
	if rcode, a := l.resolve(t, name); rcode != dns.RcodeSuccess || a != "127.0.0.1" {
		t.Fatalf("the zone answers %s with %s %q, want 127.0.0.1", name, dns.RcodeToString[rcode], a)
	}
	tab := l.browser.NewTab(t)
	if err := navigate(tab, d.origin+"/"); err != nil {
		t.Fatalf("open %s while paired: %v", d.origin, err)
	}

	owner := devices.Actor{OwnerID: l.owner.ID, Name: "alice"}
	if _, err := devices.Unpair(t.Context(), l.iss.Store(), owner, d.id, time.Now()); err != nil {
		t.Fatal(err)
	}
	d.stop()
	if _, err := d.agent.Reset(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the zone to drop "+name, func() bool {
		rcode, _ := l.resolve(t, name)
		return rcode == dns.RcodeNameError
	})
	url := d.origin + "/"
	err = navigate(l.browser.NewTab(t), url)
	if err == nil || !strings.Contains(err.Error(), "net::ERR_SSL_PROTOCOL_ERROR") {
		t.Errorf("open %s after unpair and reset: %v, want net::ERR_SSL_PROTOCOL_ERROR", url, err)
	}
}

// resolve asks the issuer's DNS server for name's A record and returns
// the rcode and the first address.
func (e *env) resolve(t *testing.T, name string) (int, string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := new(dns.Client).Exchange(m, e.iss.Info().DNS)
	if err != nil {
		t.Fatalf("ask the issuer's DNS for %s: %v", name, err)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return r.Rcode, a.A.String()
		}
	}
	return r.Rcode, ""
}
