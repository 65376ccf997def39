// Package announce announces a device running the lantls agent over
// multicast DNS (RFC 6762) as a DNS-SD service (RFC 6763) of type
// _https._tcp, so that apps and browser extensions on the LAN find it.
package announce

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/lantls/lantls/names"
)

// Device is what the announcement tells of the agent; *agent.Agent is one.
type Device interface {
	// Certificate is the certificate being served, or nil.
	Certificate() *tls.Certificate
	// Identity is the device's label and zone, "" before pairing.
	Identity() (label, zone string)
	// Addresses are the device's reported addresses.
	Addresses() []netip.Addr
}

// Config says how to announce the device over DNS-SD.
type Config struct {
	Port string // the HTTPS port, required
	// Interface names the one interface to announce on; empty means the
	// system's default multicast interface.
	Interface string
	// Instance is the service instance name; empty means the host name.
	Instance string
	// Ranges are the address ranges worth announcing; nil means
	// names.LocalRanges(), the ranges the issuer answers address-names
	// for.
	Ranges []netip.Prefix
	// Logger receives what changes; nil means slog.Default().
	Logger *slog.Logger
}

// Run announces the device over multicast DNS (RFC 6762) as a DNS-SD
// service (RFC 6763) of type _https._tcp, with TXT "name=" its
// address-name and "fp=" the base64url SHA-256 of its TLS key's
// SubjectPublicKeyInfo, until ctx ends; then it sends goodbye packets
// (TTL 0, RFC 6762 section 10.1) so browsers drop it at once. It
// re-announces when a renewal changes the TLS key.
//
// Queries are answered by github.com/hashicorp/mdns (a maintained
// responder on miekg/dns, which the issuer uses too); the unsolicited
// announcements and goodbyes, which that library does not send, are sent
// here.
func Run(ctx context.Context, d Device, cfg Config) error {
	port, err := strconv.Atoi(cfg.Port)
	if err != nil || port <= 0 {
		return fmt.Errorf("announce: bad port %q", cfg.Port)
	}
	var ifc *net.Interface
	if cfg.Interface != "" {
		if ifc, err = net.InterfaceByName(cfg.Interface); err != nil {
			return fmt.Errorf("announce: %w", err)
		}
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	if cfg.Ranges == nil {
		cfg.Ranges = names.LocalRanges()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	build := func() (*mdns.MDNSService, error) {
		cert := d.Certificate()
		label, zone := d.Identity()
		if cert == nil || label == "" {
			return nil, fmt.Errorf("announce: no certificate yet")
		}
		ips, err := announceIPs(d, ifc, cfg.Ranges)
		if err != nil {
			return nil, err
		}
		return newService(cfg.Instance, port, ips, label, zone, cert.Leaf)
	}
	svc, err := build()
	if err != nil {
		return err
	}
	z := &liveZone{}
	z.set(svc)
	srv, err := mdns.NewServer(&mdns.Config{Zone: z, Iface: ifc, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	defer srv.Shutdown()
	out, err := newMulticastSender(ifc)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	defer out.close()

	// RFC 6762 section 8.3: announce at least twice, one second apart.
	out.send(announcement(svc, false))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	repeats := 1
	for {
		select {
		case <-ctx.Done():
			if cur := z.get(); cur != nil {
				out.send(announcement(cur, true))
			}
			return nil
		case <-tick.C:
		}
		cur := z.get()
		next, err := build()
		switch {
		case err != nil && d.Certificate() == nil && cur != nil:
			// Unpaired: withdraw the service (goodbye, RFC 6762 section
			// 10.1) until a new certificate comes.
			out.send(announcement(cur, true))
			z.set(nil)
			cfg.Logger.Info("mDNS: withdrawn, the device has no certificate")
			continue
		case err == nil && (cur == nil || !sameService(next, cur)):
			z.set(next)
			repeats = 0
			cfg.Logger.Info("mDNS: announcing the device's certificate")
		}
		if cur := z.get(); cur != nil && repeats < 2 {
			out.send(announcement(cur, false))
			repeats++
		}
	}
}

func announceIPs(d Device, ifc *net.Interface, ranges []netip.Prefix) ([]net.IP, error) {
	var addrs []netip.Addr
	if ifc != nil {
		as, err := ifc.Addrs()
		if err != nil {
			return nil, err
		}
		for _, x := range as {
			if n, ok := x.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					addrs = append(addrs, ip)
				}
			}
		}
	} else {
		addrs = d.Addresses()
	}
	var ips []net.IP
	for _, ip := range addrs {
		ip = ip.Unmap()
		for _, p := range ranges {
			if p.Contains(ip) {
				ips = append(ips, net.IP(ip.AsSlice()))
				break
			}
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("announce: no address in the allowed ranges to announce")
	}
	return ips, nil
}

// newService is the DNS-SD service for the device: the SRV target is
// <label>.local, TXT name= the address-name of the first address, fp= the
// TLS key's fingerprint.
func newService(instance string, port int, ips []net.IP, label, zone string, leaf *x509.Certificate) (*mdns.MDNSService, error) {
	first, _ := netip.AddrFromSlice(ips[0])
	for _, ip := range ips { // prefer IPv4: shorter, and what people type
		if ip.To4() != nil {
			first, _ = netip.AddrFromSlice(ip.To4())
			break
		}
	}
	txt := []string{"name=" + names.AddressName(first.Unmap(), label, zone), "fp=" + SPKIFingerprint(leaf)}
	return mdns.NewMDNSService(instance, "_https._tcp", "local.", label+".local.", port, ips, txt)
}

// SPKIFingerprint is the base64url (unpadded) SHA-256 of cert's
// SubjectPublicKeyInfo: what DNS-SD's fp= carries, so a browser extension
// or app can pin the key it found on the LAN.
func SPKIFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func sameService(a, b *mdns.MDNSService) bool {
	return strings.Join(a.TXT, "\x00") == strings.Join(b.TXT, "\x00") && fmt.Sprint(a.IPs) == fmt.Sprint(b.IPs)
}

// announcement is an unsolicited response carrying every record of svc
// (RFC 6762 section 8.3), or with TTL 0 a goodbye (section 10.1).
func announcement(svc *mdns.MDNSService, goodbye bool) *dns.Msg {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}}
	m.Answer = svc.Records(dns.Question{Name: "_https._tcp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m.Extra = append(m.Extra, svc.Records(dns.Question{Name: svc.HostName, Qtype: t, Qclass: dns.ClassINET})...)
	}
	if goodbye {
		for _, rr := range append(m.Answer, m.Extra...) {
			rr.Header().Ttl = 0
		}
	}
	return m
}

// liveZone is the zone the responder answers from; Announce swaps in a new
// service when the certificate changes.
type liveZone struct {
	mu  sync.Mutex
	svc *mdns.MDNSService
}

func (z *liveZone) set(s *mdns.MDNSService) { z.mu.Lock(); z.svc = s; z.mu.Unlock() }

func (z *liveZone) get() *mdns.MDNSService { z.mu.Lock(); defer z.mu.Unlock(); return z.svc }

// Records answers q from the current service; nothing while there is
// none.
func (z *liveZone) Records(q dns.Question) []dns.RR {
	svc := z.get()
	if svc == nil {
		return nil
	}
	return svc.Records(q)
}

// multicastSender sends mDNS messages to the IPv4 and IPv6 groups from
// port 5353, as RFC 6762 section 11 requires of responses.
type multicastSender struct {
	conns []*net.UDPConn
	dests []*net.UDPAddr
}

func newMulticastSender(ifc *net.Interface) (*multicastSender, error) {
	s := &multicastSender{}
	for _, g := range []struct{ network, group string }{{"udp4", "224.0.0.251"}, {"udp6", "ff02::fb"}} {
		c, err := listenMDNS(g.network, ifc)
		if err != nil {
			continue // no IPv6 (or IPv4) here: announce on the other
		}
		dest := &net.UDPAddr{IP: net.ParseIP(g.group), Port: 5353}
		if g.network == "udp6" && ifc != nil {
			dest.Zone = ifc.Name
		}
		s.conns, s.dests = append(s.conns, c), append(s.dests, dest)
	}
	if len(s.conns) == 0 {
		return nil, fmt.Errorf("no multicast socket on port 5353")
	}
	return s, nil
}

func (s *multicastSender) send(m *dns.Msg) {
	b, err := m.Pack()
	if err != nil {
		return
	}
	for i, c := range s.conns {
		c.WriteToUDP(b, s.dests[i])
	}
}

func (s *multicastSender) close() {
	for _, c := range s.conns {
		c.Close()
	}
}
