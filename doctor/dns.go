package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/names"
)

// resolvConf is where the system's resolver is configured.
const resolvConf = "/etc/resolv.conf"

// resolverAddr returns the host:port of the resolver to ask: s with port 53
// added where it has none, or the first nameserver of /etc/resolv.conf.
func resolverAddr(s string) (string, error) {
	if s == "" {
		cc, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return "", fmt.Errorf("read the system's resolver: %w", err)
		}
		if len(cc.Servers) == 0 {
			return "", fmt.Errorf("%s names no nameserver", resolvConf)
		}
		return net.JoinHostPort(cc.Servers[0], cc.Port), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("resolver %q: want an address such as 192.168.1.1 or 127.0.0.1:5353", s)
	}
	return ap.String(), nil
}

// resolverClient asks one resolver, as a stub resolver does: recursion
// desired, UDP first and TCP when the answer is truncated.
type resolverClient struct {
	addr    string
	timeout time.Duration
}

func (r *resolverClient) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, false)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := &dns.Client{Timeout: r.timeout}
	m, _, err := c.ExchangeContext(ctx, q, r.addr)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, r.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ask %s for %s %s: %w", r.addr, name, dns.TypeToString[qtype], err)
	}
	return m, nil
}

// lookup returns the A and AAAA addresses of name.
func (r *resolverClient) lookup(ctx context.Context, name string) ([]netip.Addr, int, error) {
	var addrs []netip.Addr
	rcode := dns.RcodeSuccess
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := r.exchange(ctx, name, qt)
		if err != nil {
			return nil, 0, err
		}
		if m.Rcode != dns.RcodeSuccess {
			rcode = m.Rcode
		}
		addrs = append(addrs, answerAddrs(m)...)
	}
	return addrs, rcode, nil
}

func answerAddrs(m *dns.Msg) []netip.Addr {
	var addrs []netip.Addr
	for _, rr := range m.Answer {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a.Unmap())
		}
	}
	return addrs
}

// checkZone asks for the zone's SOA: a resolver that reaches the zone's
// DNS server answers it; one that asks the internet for a private zone
// gets NXDOMAIN, and a validating one SERVFAIL.
func (d *doctor) checkZone(ctx context.Context, zone string) Check {
	c := Check{Name: "zone"}
	m, err := d.dns.exchange(ctx, zone, dns.TypeSOA)
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("the resolver did not answer: %v", err)
		c.Fix = "check this machine's network: " + d.dns.addr + " is the resolver it asks (give another with --resolver)"
		return c
	}
	if m.Rcode == dns.RcodeSuccess && hasType(m.Answer, dns.TypeSOA) {
		c.Status, c.Detail = OK, fmt.Sprintf("%s answers the zone %s (SOA)", d.dns.addr, zone)
		return c
	}
	c.Status = Fail
	c.Detail = fmt.Sprintf("%s answers %s for the zone %s: it does not reach the zone's DNS server", d.dns.addr, rcodeText(m), zone)
	if m.Rcode == dns.RcodeServerFailure {
		c.Detail += " (a validating resolver that expects DNSSEC for it also says SERVFAIL)"
	}
	c.Fix = fmt.Sprintf("make the router's resolver forward %s to the hub's DNS server (%s), or hand out the hub as the DNS server", zone, d.hubAddr())
	c.Settings = forwardSettings(zone, d.hubAddr())
	return c
}

// checkRebind asks for an address-name of the device, which the zone's DNS
// answers with the private address in it for any active device. An
// answer with no address is what a DNS-rebind filter leaves: dnsmasq's
// --stop-dns-rebind, Unbound's private-address and the routers built on
// them answer NOERROR and drop the records.
func (d *doctor) checkRebind(ctx context.Context, zone string) Check {
	c := Check{Name: "rebind"}
	name, addr := d.probeName(zone)
	qtype := dns.TypeA
	if addr.Is6() {
		qtype = dns.TypeAAAA
	}
	m, err := d.dns.exchange(ctx, name, qtype)
	switch {
	case err != nil:
		c.Status, c.Detail = Fail, fmt.Sprintf("the resolver did not answer: %v", err)
		c.Fix = "check this machine's network and the resolver at " + d.dns.addr
	case slices.Contains(answerAddrs(m), addr):
		c.Status, c.Detail = OK, fmt.Sprintf("private answers pass: %s is %s", name, addr)
	case m.Rcode == dns.RcodeSuccess:
		c.Status = Fail
		c.Detail = fmt.Sprintf("%s answered %s with no address, where the zone's DNS answers %s: a DNS-rebind filter drops answers that point names at private addresses", d.dns.addr, name, addr)
		c.Fix = fmt.Sprintf("exempt %s from the DNS-rebind protection of the router or resolver (the setting for yours is below)", zone)
		c.Settings = RebindSettings(zone)
	case m.Rcode == dns.RcodeNameError:
		c.Status = Fail
		c.Detail = fmt.Sprintf("%s answered NXDOMAIN for %s: the zone's DNS does not know device %s as active", d.dns.addr, name, d.label)
		c.Fix = "look the device up in the issuer's device list: pair it again if it was revoked or unpaired"
	default:
		c.Status, c.Detail = Fail, fmt.Sprintf("%s answered %s for %s", d.dns.addr, rcodeText(m), name)
		c.Fix = fmt.Sprintf("make the router's resolver forward %s to the hub's DNS server (%s)", zone, d.hubAddr())
		c.Settings = forwardSettings(zone, d.hubAddr())
	}
	return c
}

// probeName returns the device's own name if it is an address-name, else
// the address-name of probeAddr under the device's label.
func (d *doctor) probeName(zone string) (string, netip.Addr) {
	if prefix, _, ok := names.SplitDevice(d.host, zone); ok && !strings.Contains(prefix, ".") {
		if a, err := names.ParseAddressLabel(prefix); err == nil {
			return d.host, a
		}
	}
	return names.AddressName(probeAddr, d.label, zone), probeAddr
}

// resolve looks the device's name up; rebindFailed says the rebind check
// has already found the cause when it does not resolve.
func (d *doctor) resolve(ctx context.Context, rebindFailed bool) ([]netip.Addr, Check) {
	c := Check{Name: "resolve"}
	addrs, rcode, err := d.dns.lookup(ctx, d.host)
	switch {
	case err != nil:
		c.Status, c.Detail = Fail, fmt.Sprintf("the resolver did not answer: %v", err)
		c.Fix = "check this machine's network and the resolver at " + d.dns.addr
	case len(addrs) > 0:
		strs := make([]string, len(addrs))
		for i, a := range addrs {
			strs[i] = a.String()
		}
		c.Status, c.Detail = OK, fmt.Sprintf("%s is %s", d.host, strings.Join(strs, ", "))
	default:
		c.Status = Fail
		c.Detail = fmt.Sprintf("%s has no address (%s)", d.host, dns.RcodeToString[rcode])
		switch {
		case rebindFailed:
			c.Fix = "fix the DNS-rebind filter (the rebind check above); the name's answers are private addresses too"
		case d.label != "" && d.host == names.DeviceName(d.label, d.report.Zone):
			c.Fix = fmt.Sprintf("use an address-name such as %s, or turn publishing on for the device on its page in the issuer's web UI", names.AddressName(probeAddr, d.label, d.report.Zone))
		case rcode == dns.RcodeSuccess && d.label == "":
			// A short name answers the device's private addresses: the
			// rebind filter drops those too, and there is no label to
			// probe it with.
			c.Fix = fmt.Sprintf("if the router filters private answers (DNS-rebind protection), exempt %s (the setting for yours is below); else check on the device's page in the issuer's web UI that the name is the device's and that it reported its addresses", d.report.Zone)
			c.Settings = RebindSettings(d.report.Zone)
		default:
			c.Fix = "check the name on the device's page in the issuer's web UI; the device must have reported its addresses"
		}
	}
	return addrs, c
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

func rcodeText(m *dns.Msg) string {
	if m.Rcode == dns.RcodeSuccess {
		return "NOERROR with no records"
	}
	return dns.RcodeToString[m.Rcode]
}

// dialContext dials addr, looking its host up through the doctor's
// resolver, never the system's.
func (d *doctor) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, _, err = d.dns.lookup(ctx, host); err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address at %s", host, d.dns.addr)
	}
	var errs []error
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	for _, a := range addrs {
		conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
