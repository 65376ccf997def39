package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/internal/testwait"
)

// dnsAddr reads the DNS server's address from the issuer's issuer.json.
func (iss *issuer) dnsAddr(t *testing.T) (host, port string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(iss.Dir, "issuer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		DNS string `json:"dns"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.DNS == "" {
		t.Fatalf("issuer.json has no dns address: %v\n%s", err, b)
	}
	i := strings.LastIndexByte(f.DNS, ':')
	return f.DNS[:i], f.DNS[i+1:]
}

// dig asks the issuer's DNS server with dig (bind9-dnsutils) and returns
// its whole output.
func (iss *issuer) dig(t *testing.T, name, qtype string, extra ...string) string {
	t.Helper()
	bin := requireTool(t, "dig", "bind9-dnsutils")
	host, port := iss.dnsAddr(t)
	args := append([]string{"@" + host, "-p", port, name, qtype, "+time=2", "+tries=1", "+norec"}, extra...)
	r := run(t, nil, bin, args...)
	if r.code != 0 {
		t.Fatalf("dig failed:\n%s", r)
	}
	return r.stdout
}

// digStatus is dig's rcode and header flags, e.g. "NOERROR", "qr aa".
var digStatus = regexp.MustCompile(`status: (\w+),.*\n;; flags: ([a-z ]+);`)

func requireDig(t *testing.T, out, status, flags string, answer ...string) {
	t.Helper()
	m := digStatus.FindStringSubmatch(out)
	if m == nil || m[1] != status || m[2] != flags {
		t.Errorf("dig: want status %s and flags %q:\n%s", status, flags, out)
	}
	for _, a := range answer {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(a[:strings.IndexByte(a, ' ')]) + `\s+` +
			strings.Join(strings.Fields(regexp.QuoteMeta(a[strings.IndexByte(a, ' ')+1:])), `\s+`) + `$`).MatchString(out) {
			t.Errorf("dig: want the answer %q:\n%s", a, out)
		}
	}
}

// TestDNS drives the issuer's DNS server with dig: address-names of a
// device, its published name, the apex, a disallowed address, and a
// revocation that turns every name NXDOMAIN within a second.
func TestDNS(t *testing.T) {
	t.Parallel()
	requireTool(t, "dig", "bind9-dnsutils")
	iss := startIssuer(t)
	dev := addDevices(t, iss, 1)[0]
	devName := dev.Label + "." + zone + "."
	addrName := "192-168-1-20." + devName

	requireDig(t, iss.dig(t, addrName, "A"), "NOERROR", "qr aa", addrName+" 60 IN A 192.168.1.20")
	requireDig(t, iss.dig(t, strings.ToUpper(addrName), "A"), "NOERROR", "qr aa", strings.ToUpper(addrName)+" 60 IN A 192.168.1.20")
	requireDig(t, iss.dig(t, "fd00-0-0-0-0-0-0-20."+devName, "AAAA", "+tcp"), "NOERROR", "qr aa", "fd00-0-0-0-0-0-0-20."+devName+" 60 IN AAAA fd00::20")
	requireDig(t, iss.dig(t, "8-8-8-8."+devName, "A"), "NXDOMAIN", "qr aa")
	requireDig(t, iss.dig(t, zone+".", "NS"), "NOERROR", "qr aa", zone+". 3600 IN NS ns."+zone+".", "ns."+zone+". 3600 IN A 127.0.0.1")
	requireDig(t, iss.dig(t, "example.com.", "A"), "REFUSED", "qr")

	// The device reports its addresses (here through the admin CLI, as the
	// agent would through PUT /api/v1/device/addresses); lan.test is a
	// special-use zone, so L.Z publishes them by default.
	requireDig(t, iss.dig(t, devName, "A"), "NOERROR", "qr aa")
	if r := iss.admin(t, "device", "addresses", dev.Label, "192.168.1.20", "fd00::20"); r.code != 0 {
		t.Fatalf("device addresses:\n%s", r)
	}
	waitDig(t, iss, devName, "A", devName+" 60 IN A 192.168.1.20")
	if r := iss.admin(t, "device", "addresses", dev.Label, "203.0.113.9"); r.code == 0 || !strings.Contains(r.output(), "203.0.113.9 is outside the ranges") {
		t.Errorf("a public address was not refused clearly:\n%s", r)
	}
	if r := iss.admin(t, "device", "publish", dev.Label, "off"); r.code != 0 {
		t.Fatalf("device publish off:\n%s", r)
	}
	waitDig(t, iss, devName, "A", "status: NOERROR", "ANSWER: 0")

	// Revoked by another process on the same data dir: NXDOMAIN within a
	// second, every name of the device.
	if r := iss.admin(t, "device", "revoke", dev.Label); r.code != 0 {
		t.Fatalf("device revoke:\n%s", r)
	}
	revoked := time.Now()
	waitDig(t, iss, addrName, "A", "status: NXDOMAIN")
	if d := time.Since(revoked); d > time.Second {
		t.Errorf("NXDOMAIN %v after the revocation, want within a second", d)
	}
	requireDig(t, iss.dig(t, devName, "A"), "NXDOMAIN", "qr aa")
}

// waitDig waits until the answer to name and qtype contains every one of
// want (dig's output format, whitespace aside), then checks it once more
// with dig itself. It asks with a miekg/dns client in process while it
// waits, whose answers print as dig's do: starting a dig process per try
// takes long enough on a loaded machine to blur the timing being tested.
// It gives up after a few seconds; callers assert their own deadline.
func waitDig(t *testing.T, iss *issuer, name, qtype string, want ...string) {
	t.Helper()
	host, port := iss.dnsAddr(t)
	has := func(out string) bool {
		out = strings.Join(strings.Fields(out), " ")
		for _, w := range want {
			if !strings.Contains(out, strings.Join(strings.Fields(w), " ")) {
				return false
			}
		}
		return true
	}
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.StringToType[qtype])
	m.RecursionDesired = false
	var (
		r   *dns.Msg
		err error
	)
	if !testwait.Until(5*time.Second, func() bool {
		r, _, err = c.Exchange(m, net.JoinHostPort(host, port))
		return err == nil && has(r.String())
	}) {
		t.Fatalf("%s %s: no %q within 5 s: %v\n%v", name, qtype, want, err, r)
	}
	if out := iss.dig(t, name, qtype); !has(out) {
		t.Fatalf("dig %s %s: no %q:\n%s", name, qtype, want, out)
	}
}
