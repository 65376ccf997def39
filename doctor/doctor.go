// Package doctor walks the chain from a device's name to its page, as seen
// from the machine it runs on, and says at each step what is wrong and the
// one thing to do about it: does the resolver answer the zone, does it drop
// private answers for public names (a DNS-rebind filter), does the name
// resolve, is the device reachable, is its certificate valid for the name
// and unexpired, is its root trusted here (the system store and NSS), and
// will renewal happen in time.
package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lantls/lantls/names"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check. A skipped check could not run because an
// earlier one failed or the input does not allow it; it fails nothing.
const (
	OK   Status = "OK"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Check is one step of the walk from name to page.
type Check struct {
	Name   string `json:"check"`  // zone, rebind, resolve, reach, certificate, trust, trust-nss, renewal, issuer
	Status Status `json:"status"` // OK, FAIL or SKIP
	Detail string `json:"detail"` // what was found
	// Fix is the one thing to do when the check failed.
	Fix string `json:"fix,omitempty"`
	// Settings are the fix spelled out for each kind of resolver or
	// router, where the fix is a setting there.
	Settings []Setting `json:"settings,omitempty"`
}

// Setting is the fix on one kind of resolver or router.
type Setting struct {
	Product string `json:"product"` // dnsmasq, Unbound, Pi-hole, OpenWrt, pfSense, Fritz!Box
	Setting string `json:"setting"`
}

// Report is the outcome of a run: every check in order.
type Report struct {
	Device   string  `json:"device,omitempty"` // the device's name
	URL      string  `json:"url,omitempty"`    // the page the walk ends at
	Zone     string  `json:"zone,omitempty"`
	Resolver string  `json:"resolver"`
	Checks   []Check `json:"checks"`
	OK       bool    `json:"ok"` // no check failed
}

// Failed returns how many checks failed.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

// Config says what to check and from where. Only Device or Issuer is
// required.
type Config struct {
	// Device is the device's name (192-168-1-20.L.Z, L.Z, tv.Z) or the
	// URL of its page (https://tv.Z:8443/).
	Device string
	// Issuer is the issuer's base URL; with it the doctor checks the
	// issuer's page too and names its root in the fixes.
	Issuer string
	// Zone is the issuer's zone; empty means the part of Device after its
	// label, or after its first label when it has none.
	Zone string
	// Resolver is the host:port (or address, port 53) of the DNS
	// resolver to ask; empty means the first nameserver of
	// /etc/resolv.conf, the one this machine's programs ask.
	Resolver string
	// Roots are the roots this machine trusts; nil means the system's.
	Roots *x509.CertPool
	// NSSDBs are the NSS databases to check the root in (Chromium's
	// ~/.pki/nssdb, Firefox profiles); nil means those found under $HOME,
	// empty means none.
	NSSDBs []string
	// Timeout bounds each network step; zero means 3 seconds.
	Timeout time.Duration
	// Now is the clock certificates are checked against; nil means
	// time.Now.
	Now func() time.Time
}

// probeAddr is the private address whose address-name the rebind check
// asks for when the device's own name carries none: every rebind filter
// drops RFC 1918 answers, and the issuer answers it for any active device.
var probeAddr = netip.MustParseAddr("192.168.1.1")

// Run runs every check and returns the report; err is only for a Config
// that cannot be checked at all.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Device == "" && cfg.Issuer == "" {
		return nil, errors.New("nothing to check: give a device name or URL, or the issuer's URL")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	resolver, err := resolverAddr(cfg.Resolver)
	if err != nil {
		return nil, err
	}
	d := &doctor{cfg: cfg, dns: &resolverClient{addr: resolver, timeout: cfg.Timeout}}
	d.report.Resolver = resolver
	if cfg.Issuer != "" {
		if d.issuer, err = url.Parse(cfg.Issuer); err != nil || d.issuer.Host == "" || d.issuer.Scheme != "https" && d.issuer.Scheme != "http" {
			return nil, fmt.Errorf("issuer URL %q: want https://HOST[:PORT]", cfg.Issuer)
		}
		d.fetchRoot(ctx)
	}
	if cfg.Device != "" {
		if err := d.parseDevice(cfg.Device); err != nil {
			return nil, err
		}
		d.checkDevice(ctx)
	}
	if d.issuer != nil {
		d.checkIssuer(ctx)
	}
	d.report.OK = d.report.Failed() == 0
	return &d.report, nil
}

type doctor struct {
	cfg    Config
	dns    *resolverClient
	issuer *url.URL
	// label is the device's label when its name carries one.
	label   string
	host    string // the device's name
	port    string
	root    *x509.Certificate // the root the issuer serves, once fetched
	rootErr error
	report  Report
}

func (d *doctor) add(c Check) Check {
	d.report.Checks = append(d.report.Checks, c)
	return c
}

// parseDevice takes a name or a URL and finds the zone and the label.
func (d *doctor) parseDevice(s string) error {
	host, port := s, "443"
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return fmt.Errorf("device %q: want a name such as tv.lan.home.arpa or a URL such as https://tv.lan.home.arpa/", s)
		}
		host = u.Hostname()
		if u.Port() != "" {
			port = u.Port()
		}
	} else if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	n, err := names.Normalize(host)
	if err != nil {
		return fmt.Errorf("device %q: %v", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("device %q: bad port %q", s, port)
	}
	d.host, d.port = n, port
	d.report.Device = n
	d.report.URL = "https://" + net.JoinHostPort(n, port) + "/"
	if port == "443" {
		d.report.URL = "https://" + n + "/"
	}
	zone := d.cfg.Zone
	labels := strings.Split(n, ".")
	for i, l := range labels {
		if names.ValidLabel(l) && i+1 < len(labels) {
			d.label = l
			if zone == "" {
				zone = strings.Join(labels[i+1:], ".")
			}
			break
		}
	}
	if zone == "" {
		zone = strings.Join(labels[1:], ".")
	}
	if z, err := names.Normalize(zone); err == nil {
		zone = z
	}
	if d.label != "" && !names.OwnedBy(n, d.label, zone) {
		d.label = ""
	}
	d.report.Zone = zone
	return nil
}

// checkDevice walks from the device's name to its page.
func (d *doctor) checkDevice(ctx context.Context) {
	zone := d.report.Zone
	zoneOK := d.add(d.checkZone(ctx, zone)).Status == OK
	rebind := Check{Name: "rebind", Status: Skip, Detail: "the name carries no device label to probe with"}
	switch {
	case !zoneOK:
		rebind.Detail = "the resolver does not answer the zone"
	case d.label != "":
		rebind = d.checkRebind(ctx, zone)
	}
	d.add(rebind)
	addrs, res := d.resolve(ctx, rebind.Status == Fail)
	d.add(res)
	if len(addrs) == 0 {
		d.skip("the name does not resolve", "reach", "certificate", "trust", "trust-nss", "renewal")
		return
	}
	conn, reach := d.reach(ctx, addrs)
	d.add(reach)
	if conn == nil {
		d.skip("the device is not reachable", "certificate", "trust", "trust-nss", "renewal")
		return
	}
	d.checkTLS(ctx, conn, d.host, true)
}

// skip adds a skipped check for each name, because of why.
func (d *doctor) skip(why string, checks ...string) {
	for _, n := range checks {
		d.add(Check{Name: n, Status: Skip, Detail: "skipped: " + why})
	}
}

// hubAddr is how the fixes name the hub's DNS server: the issuer's
// address where it is one, else a placeholder.
func (d *doctor) hubAddr() string {
	if d.issuer != nil {
		if a, err := netip.ParseAddr(d.issuer.Hostname()); err == nil {
			return a.String()
		}
	}
	return "HUB-IP"
}
