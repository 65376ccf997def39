package issuer

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/lantls/lantls/dnsserver"
)

// openDNS starts the DNS server when DNSListen is set: its index loads
// from the store before New returns, so the first answers are right.
func (iss *Issuer) openDNS(ctx context.Context) error {
	cfg := &iss.cfg
	if cfg.DNSListen == "" {
		return nil
	}
	d := cfg.DNS
	d.Zone, d.Source, d.Listen = cfg.Zone, iss.store, cfg.DNSListen
	d.Logger, d.Registerer = cfg.Logger, iss.registry
	if d.Now == nil {
		d.Now = cfg.Now
	}
	var err error
	if iss.dns, err = dnsserver.New(ctx, d); err != nil {
		return &ConfigError{Field: "DNSListen", Err: err}
	}
	return nil
}

func (iss *Issuer) dnsAddr() string {
	if iss.dns == nil {
		return ""
	}
	return iss.dns.Addr().String()
}

// allowedRanges are the ranges device addresses must fall in: the DNS
// server's, or its defaults without one.
func (iss *Issuer) allowedRanges() []netip.Prefix {
	if iss.dns != nil {
		return iss.dns.Allow()
	}
	if iss.cfg.DNS.Allow != nil {
		return iss.cfg.DNS.Allow
	}
	return dnsserver.DefaultAllow
}

func rangesString(allow []netip.Prefix) string {
	s := make([]string, len(allow))
	for i, p := range allow {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Ranges parses Info.DNSAllow; empty is the DNS server's default ranges.
func (info *Info) Ranges() ([]netip.Prefix, error) {
	if info.DNSAllow == "" {
		return dnsserver.DefaultAllow, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(info.DNSAllow, ",") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("dns_allow in %s: %w", InfoFile, err)
		}
		out = append(out, p)
	}
	return out, nil
}
