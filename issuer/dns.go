package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/internal/jsonkeys"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
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

// serveAddresses serves PUT /api/v1/device/addresses: the calling device
// (by its bearer token) replaces the addresses it last reported. Each must
// be in the allowed ranges; the DNS answers show them before the response
// is sent.
func (iss *Issuer) serveAddresses(w http.ResponseWriter, r *http.Request) {
	ans, err := iss.putAddresses(r)
	if err != nil {
		if p := problem.OrInternal(err); p.Kind == problem.ServerInternal {
			iss.cfg.Logger.ErrorContext(r.Context(), "device addresses", "err", err)
		}
		pairing.WriteProblem(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(ans)
}

func (iss *Issuer) putAddresses(r *http.Request) (*deviceapi.AddressAnswer, error) {
	d, err := iss.pairing.Authenticate(r)
	if err != nil {
		return nil, err
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" && ct != "application/json" {
		return nil, problem.MalformedErr("send the addresses as application/json, not %s", ct)
	}
	var body deviceapi.AddressReport
	raw, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	if err != nil {
		return nil, problem.MalformedErr("cannot read the body: %v", err)
	}
	if k, dup := jsonkeys.Duplicate(raw); dup {
		return nil, problem.MalformedErr("the body has %q twice", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, problem.MalformedErr(`the body is not {"addresses": ["192.168.1.20", ...], "port": 8443}: %v`, err)
	}
	if body.Addresses == nil {
		return nil, problem.MalformedErr(`the body has no "addresses" list; send [] to clear them`)
	}
	addrs, err := ParseAddresses(body.Addresses, iss.allowedRanges())
	if err != nil {
		return nil, problem.MalformedErr("%v", err)
	}
	port := body.Port
	if port < 0 || port > 65535 {
		return nil, problem.MalformedErr("port %d is not a TCP port (1 to 65535; 0 or none for 443)", port)
	}
	if port == 443 {
		port = 0
	}
	ctx := r.Context()
	changed := true
	err = iss.store.Update(ctx, func(tx store.Tx) error {
		// An agent reports on start and on every change it sees; the same
		// list again writes nothing and leaves the DNS index alone.
		had, err := tx.GetDeviceDNS(ctx, d.ID)
		if err != nil {
			return err
		}
		changed = !slices.Equal(had.Addresses, addrs)
		if !changed && had.Port == port {
			return nil
		}
		if err := iss.cfg.Limits.DeviceWritesPerDevice.Take(ctx, tx, d.ID, iss.cfg.Now()); err != nil {
			return err
		}
		if had.Port != port {
			if err := tx.SetDevicePort(ctx, d.ID, port); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		return tx.SetDeviceAddresses(ctx, d.ID, addrs)
	})
	if problem.Is(err, problem.RateLimited) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store addresses: %w", err)
	}
	if changed && iss.dns != nil {
		if err := iss.dns.Refresh(ctx); err != nil {
			// The poller catches up within a second.
			iss.cfg.Logger.WarnContext(ctx, "dns refresh after an address report", "err", err)
		}
	}
	ans := &deviceapi.AddressAnswer{Addresses: []string{}, Names: []string{}}
	for _, a := range addrs {
		ans.Addresses = append(ans.Addresses, a.String())
		ans.Names = append(ans.Names, names.AddressName(a, d.Label, iss.cfg.Zone))
	}
	return ans, nil
}

// ParseAddresses parses reported addresses, in order and without
// duplicates, and checks each against the allowed ranges.
func ParseAddresses(list []string, allow []netip.Prefix) ([]netip.Addr, error) {
	if len(list) > deviceapi.MaxAddresses {
		return nil, fmt.Errorf("%d addresses; at most %d", len(list), deviceapi.MaxAddresses)
	}
	out := []netip.Addr{}
	seen := map[netip.Addr]bool{}
	for _, s := range list {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IPv4 or IPv6 address (without a %%zone)", s)
		}
		a = a.Unmap()
		if !inRanges(a, allow) {
			return nil, fmt.Errorf("address %s is outside the ranges the zone answers for (%s)", a, strings.ReplaceAll(rangesString(allow), ",", ", "))
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

func inRanges(a netip.Addr, allow []netip.Prefix) bool {
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
