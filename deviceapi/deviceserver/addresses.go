package deviceserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// maxAddressBody bounds the body of PUT deviceapi.PathAddresses:
// deviceapi.MaxAddresses IPv6 addresses fit many times over.
const maxAddressBody = 16 << 10

// serveAddresses serves PUT deviceapi.PathAddresses: the calling device
// replaces the addresses it last reported. Each must be in the allowed
// ranges; the DNS answers show them before the response is sent
// (Config.AddressesChanged).
func (s *Server) serveAddresses(w http.ResponseWriter, r *http.Request, d *store.Device) error {
	if err := checkJSON(r, "addresses"); err != nil {
		return err
	}
	addrs, port, err := ParseAddressReport(r.Body, s.cfg.Allow)
	if err != nil {
		return problem.MalformedErr("%v", err)
	}
	ctx := r.Context()
	changed := true
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
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
		if err := s.takeWrite(ctx, tx, d); err != nil {
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
	if err != nil {
		return fmt.Errorf("store addresses: %w", err)
	}
	if changed && s.cfg.AddressesChanged != nil {
		if err := s.cfg.AddressesChanged(ctx); err != nil {
			// The DNS server's poller catches up within a second.
			s.log.WarnContext(ctx, "refresh after an address report", "err", err)
		}
	}
	ans := &deviceapi.AddressAnswer{Addresses: []string{}, Names: []string{}}
	for _, a := range addrs {
		ans.Addresses = append(ans.Addresses, a.String())
		ans.Names = append(ans.Names, names.AddressName(a, d.Label, s.cfg.Zone))
	}
	writeJSON(w, ans)
	return nil
}

// ParseAddressReport reads a deviceapi.AddressReport from at most 16 KiB
// of r and checks it: the addresses as ParseAddresses does, the port a
// TCP port. It returns the addresses, and the port with 443 as 0.
func ParseAddressReport(r io.Reader, allow []netip.Prefix) ([]netip.Addr, int, error) {
	var body deviceapi.AddressReport
	if err := decodeBody(r, maxAddressBody, &body, `{"addresses": ["192.168.1.20", ...], "port": 8443}`); err != nil {
		return nil, 0, err
	}
	if body.Addresses == nil {
		return nil, 0, errors.New(`the body has no "addresses" list; send [] to clear them`)
	}
	addrs, err := ParseAddresses(body.Addresses, allow)
	if err != nil {
		return nil, 0, err
	}
	port := body.Port
	if port < 0 || port > 65535 {
		return nil, 0, fmt.Errorf("port %d is not a TCP port (1 to 65535; 0 or none for 443)", port)
	}
	if port == 443 {
		port = 0
	}
	return addrs, port, nil
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
		if !slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return nil, fmt.Errorf("address %s is outside the ranges the zone answers for (%s)", a, rangesText(allow))
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// rangesText lists ranges for a person: "10.0.0.0/8, fd00::/8".
func rangesText(allow []netip.Prefix) string {
	s := make([]string, len(allow))
	for i, p := range allow {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
