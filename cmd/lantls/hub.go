package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"

	"github.com/mdp/qrterminal/v3"

	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/issuer"
)

// applyHub fills what `lantls issuer --hub` presets and the operator did
// not set: the local signer; a zone unique to this hub under home.arpa,
// kept in the data dir; HTTPS, plain HTTP and DNS on the standard ports of
// the first LAN address; hub.ZONE (served by the hub's DNS) and the other
// LAN addresses in the issuer's certificate. It returns the LAN address.
func applyHub(fs *flag.FlagSet, cfg *issuer.Config) (netip.Addr, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.Signer != "local" {
		return netip.Addr{}, usagef("--hub runs the local signer: a hub has no route to a public CA; leave out --signer")
	}
	lan, err := issuer.LANAddrs()
	if err != nil {
		return netip.Addr{}, err
	}
	if len(lan) == 0 && !(set["listen"] && set["dns-listen"] && set["base-url"]) {
		return netip.Addr{}, errors.New("--hub found no LAN address (RFC 1918, RFC 6598 or ULA) on an interface that is up: connect the hub to the LAN, or give --listen, --dns-listen and --base-url")
	}
	if !set["zone"] {
		if cfg.Zone, err = issuer.HubZone(cfg.DataDir); err != nil {
			return netip.Addr{}, err
		}
	}
	var ip netip.Addr
	if len(lan) > 0 {
		ip = lan[0]
	}
	at := func(port string) string { return net.JoinHostPort(ip.String(), port) }
	if !set["listen"] {
		cfg.Listen = at("443")
	}
	if !set["http-listen"] {
		cfg.HTTPListen = at("80")
	}
	if !set["dns-listen"] {
		cfg.DNSListen = at("53")
	}
	host := "hub." + cfg.Zone
	if !set["hostname"] {
		cfg.Hostnames = []string{host}
		for _, a := range lan {
			cfg.Hostnames = append(cfg.Hostnames, a.String())
		}
	}
	if !set["base-url"] && ip.IsValid() {
		cfg.BaseURL = "https://" + hostPort(ip, cfg.Listen, "443")
	}
	if !set["http-base-url"] && ip.IsValid() && cfg.HTTPListen != "" {
		cfg.HTTPBaseURL = "http://" + hostPort(ip, cfg.HTTPListen, "80")
	}
	if !set["dns-ns"] && len(lan) > 0 {
		cfg.DNS.NS = []dnsserver.NameServer{{Name: host, Addrs: lan}}
	}
	return ip, nil
}

// hostPort is ip with listen's port, left out where it is the scheme's.
func hostPort(ip netip.Addr, listen, standard string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == standard || port == "" {
		if ip.Is6() {
			return "[" + ip.String() + "]"
		}
		return ip.String()
	}
	return net.JoinHostPort(ip.String(), port)
}

// printHub tells the operator of a hub how the LAN finds it, and shows the
// first admin's setup link as a QR code for a phone.
func printHub(w io.Writer, info issuer.Info, ip netip.Addr, setupURL string) {
	fmt.Fprintf(w, `
This is a hub for the isolated LAN: zone %s, on %s.
Make the router's DNS send %s to %s (dnsmasq, Pi-hole, OpenWrt:
server=/%s/%s and rebind-domain-ok=/%s/); 'lantls doctor --device NAME'
on a client says what else to change, for other routers too.
`, info.Zone, ip, info.Zone, ip, info.Zone, ip, info.Zone)
	if setupURL == "" {
		return
	}
	// The link by the hub's address works before the router forwards the
	// zone; the one by name is where passkeys work.
	byIP := setupURL
	if u, err := url.Parse(setupURL); err == nil {
		if base, err := url.Parse(info.BaseURL); err == nil {
			u.Scheme, u.Host = base.Scheme, base.Host
			byIP = u.String()
		}
	}
	fmt.Fprintf(w, "\nCreate the first admin from a phone or computer on this LAN:\n  %s\nScan to open it:\n", byIP)
	qrterminal.GenerateHalfBlock(byIP, qrterminal.L, w)
}
