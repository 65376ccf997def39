package dnsserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// Config is what a Server needs. Zero fields take the defaults named.
type Config struct {
	// Zone is the zone served, e.g. lan.example.net.
	Zone string
	// Source is the store the index loads from.
	Source Source
	// Listen is the UDP and TCP address; default DefaultListen. Port 0
	// picks a free port (the same for both).
	Listen string
	// NS are the zone's name servers; default one, ns.<zone>, with the
	// listen address as its glue when that address is not a wildcard.
	NS []NameServer
	// CAA are the CAA records at the apex (RFC 8659); default none.
	CAA []CAA
	// Allow are the ranges address-names and published addresses may
	// point into; default DefaultAllow.
	Allow []netip.Prefix
	// RRL limits responses per source prefix; zero fields take the
	// defaults of RRL.
	RRL RRL
	// Poll is how often the index asks the store whether anything
	// changed; default 100 ms (one read of one row).
	Poll time.Duration
	// Logger defaults to discarding; Registerer to no metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock of TXT expiry; default time.Now. Rate limiting
	// always runs on the real clock.
	Now func() time.Time

	zoneFQDN       string // Zone with the trailing dot
	publishDefault bool
}

// DefaultListen is the default DNS address: loopback and a high port, so
// that a first start needs no privileges. Production uses port 53.
const DefaultListen = "127.0.0.1:8053"

// DefaultAllow are the ranges an address-name may point into by default
// (names.LocalRanges). A public address never gets an answer.
var DefaultAllow = names.LocalRanges()

// NameServer is one NS record at the apex, with the addresses served as
// glue when the name is inside the zone.
type NameServer struct {
	Name  string
	Addrs []netip.Addr
}

// ParseNameServer reads NAME[=ADDR[,ADDR...]].
func ParseNameServer(s string) (NameServer, error) {
	name, addrs, _ := strings.Cut(s, "=")
	n, err := names.Normalize(name)
	if err != nil || strings.HasPrefix(n, "*") {
		return NameServer{}, fmt.Errorf("name server %q: want NAME[=ADDR,...] with a host name such as ns1.lan.example.net", s)
	}
	ns := NameServer{Name: n}
	if addrs == "" {
		return ns, nil
	}
	for _, a := range strings.Split(addrs, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil || ip.Zone() != "" {
			return NameServer{}, fmt.Errorf("name server %q: %q is not an IP address", s, a)
		}
		ns.Addrs = append(ns.Addrs, ip.Unmap())
	}
	return ns, nil
}

// String writes ns as ParseNameServer reads it.
func (ns NameServer) String() string {
	if len(ns.Addrs) == 0 {
		return ns.Name
	}
	as := make([]string, len(ns.Addrs))
	for i, a := range ns.Addrs {
		as[i] = a.String()
	}
	return ns.Name + "=" + strings.Join(as, ",")
}

// CAA is one CAA record at the apex (RFC 8659).
type CAA struct {
	Flag  uint8
	Tag   string // issue, issuewild, iodef, ...
	Value string
}

// ParseCAA reads a CAA record in one of three forms:
//
//	letsencrypt.org; accounturi=https://...; validationmethods=dns-01
//	issuewild ;
//	128 issue "ca.example"
//
// A bare value is an issue property; a leading tag (issue, issuewild,
// iodef, issuemail) takes the rest as its value; a leading number is the
// flags byte. For issue and issuewild the value must be an issuer domain
// name (or empty) followed by key=value parameters, as RFC 8659 section
// 4.2 and RFC 8657 (accounturi, validationmethods) write them.
func ParseCAA(s string) (CAA, error) {
	c := CAA{Tag: "issue"}
	rest := strings.TrimSpace(s)
	if f, r, ok := strings.Cut(rest, " "); ok {
		if n, err := strconv.ParseUint(f, 10, 8); err == nil {
			c.Flag, rest = uint8(n), strings.TrimSpace(r)
		}
	}
	if t, r, ok := strings.Cut(rest, " "); ok && isCAATag(t) {
		c.Tag, rest = strings.ToLower(t), strings.TrimSpace(r)
	} else if isCAATag(rest) && c.Flag != 0 {
		return CAA{}, fmt.Errorf("caa %q: tag %s has no value", s, rest)
	}
	c.Value = strings.Trim(rest, `"`)
	if c.Tag == "issue" || c.Tag == "issuewild" {
		if err := checkIssueValue(c.Value); err != nil {
			return CAA{}, fmt.Errorf("caa %q: %w", s, err)
		}
	}
	if strings.ContainsAny(c.Value, "\"\\") {
		return CAA{}, fmt.Errorf("caa %q: quotes and backslashes are not allowed in the value", s)
	}
	return c, nil
}

func isCAATag(t string) bool {
	switch strings.ToLower(t) {
	case "issue", "issuewild", "iodef", "issuemail", "issuevmc":
		return true
	}
	return false
}

// checkIssueValue checks issuer-domain-name *(";" parameter) of RFC 8659
// section 4.2, with the parameters RFC 8657 defines checked further.
func checkIssueValue(v string) error {
	parts := strings.Split(v, ";")
	if d := strings.TrimSpace(parts[0]); d != "" {
		if _, err := names.Normalize(d); err != nil {
			return fmt.Errorf("issuer %q is not a domain name", d)
		}
	}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if !ok || k == "" || val == "" || strings.ContainsAny(val, " \t") {
			return fmt.Errorf("parameter %q: want key=value", p)
		}
		switch k {
		case "accounturi":
			if !strings.HasPrefix(val, "https://") {
				return fmt.Errorf("accounturi %q: want an https URL (RFC 8657 section 3)", val)
			}
		case "validationmethods":
			for _, m := range strings.Split(val, ",") {
				if m == "" || strings.Trim(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
					return fmt.Errorf("validationmethods %q: want a comma-separated list such as dns-01,http-01 (RFC 8657 section 4)", val)
				}
			}
		}
	}
	return nil
}

// String writes c as ParseCAA reads it.
func (c CAA) String() string { return fmt.Sprintf("%d %s %q", c.Flag, c.Tag, c.Value) }

// RRL is response rate limiting per source prefix against reflection: past
// the limit, UDP responses to the prefix are dropped, except every Slip-th,
// which goes out truncated and empty so a real client retries over TCP
// (which is never limited).
type RRL struct {
	// Off turns the limit off.
	Off bool
	// Rate is responses per second per prefix; default 100.
	Rate int
	// Burst is how many responses may come at once; default Rate.
	Burst int
	// Slip: every Slip-th limited response goes out truncated; default 2,
	// negative means never.
	Slip int
	// IPv4Prefix and IPv6Prefix are the prefix lengths that share a limit;
	// default 24 and 56.
	IPv4Prefix, IPv6Prefix int
}

// ParseRRL reads "off", "N" or "N/s" (N responses per second).
func ParseRRL(s string) (RRL, error) {
	if s == "off" {
		return RRL{Off: true}, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "/s"))
	if err != nil || n <= 0 {
		return RRL{}, fmt.Errorf("response rate limit %q: want responses per second such as 100, or off", s)
	}
	return RRL{Rate: n}, nil
}

// check validates c and fills its defaults.
func (c *Config) check() error {
	zone, err := names.Normalize(c.Zone)
	if err != nil || strings.HasPrefix(zone, "*") {
		return fmt.Errorf("zone %q is not a DNS name with at least two labels", c.Zone)
	}
	c.Zone, c.zoneFQDN = zone, zone+"."
	c.publishDefault = names.PublishByDefault(zone)
	if c.Source == nil {
		return errors.New("no source of records")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	for _, ns := range c.NS {
		if _, inZone := relative(ns.Name, zone); !inZone && len(ns.Addrs) > 0 {
			return fmt.Errorf("name server %s is outside zone %s: glue addresses are only for names inside it", ns.Name, zone)
		}
	}
	allow := c.Allow
	if allow == nil {
		allow = DefaultAllow
	}
	c.Allow = make([]netip.Prefix, len(allow))
	for i, p := range allow {
		c.Allow[i] = p.Masked()
	}
	if c.Poll <= 0 {
		c.Poll = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	r := &c.RRL
	if r.Rate <= 0 {
		r.Rate = 100
	}
	if r.Burst <= 0 {
		r.Burst = r.Rate
	}
	if r.Slip == 0 {
		r.Slip = 2
	}
	if r.IPv4Prefix <= 0 || r.IPv4Prefix > 32 {
		r.IPv4Prefix = 24
	}
	if r.IPv6Prefix <= 0 || r.IPv6Prefix > 128 {
		r.IPv6Prefix = 56
	}
	return nil
}

// publishes reports whether a device with choice p publishes L.Z.
func (c *Config) publishes(p store.Publish) bool {
	switch p {
	case store.PublishOn:
		return true
	case store.PublishOff:
		return false
	}
	return c.publishDefault
}

// Allowed reports whether addr is in one of the allowed ranges.
func (c *Config) allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range c.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// fqdn returns name with a trailing dot.
func fqdn(name string) string { return dns.Fqdn(name) }
