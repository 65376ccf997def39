package issuer

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/names"
)

// HubZoneFile is the file in the data dir that holds a hub's zone, written
// before anything is made for it, so that every later start finds the
// same zone.
const HubZoneFile = "hub-zone"

// HubZoneParent is where hubs make their zones: home.arpa, the special-use
// domain for home networks (RFC 8375), which never reaches public DNS.
const HubZoneParent = "home.arpa"

// HubZone returns the zone of the hub whose data dir is dataDir: the one
// its first start chose, or a new one, recorded before it returns. A new
// zone is 40 random bits under home.arpa (hub-k3m9q2xzwa.home.arpa), so
// two households' roots, each constrained to its own zone, never vouch
// for the same names.
func HubZone(dataDir string) (string, error) {
	path := filepath.Join(dataDir, HubZoneFile)
	b, err := os.ReadFile(path)
	if err == nil {
		zone, err := names.Normalize(strings.TrimSpace(string(b)))
		if err != nil {
			return "", fmt.Errorf("read the hub's zone from %s: %w", path, err)
		}
		return zone, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the hub's zone: %w", err)
	}
	if info, err := ReadInfo(dataDir); err == nil && info.Zone != "" {
		// A data dir made before it was a hub keeps its zone.
		return info.Zone, atomicfile.Write(path, []byte(info.Zone+"\n"), 0o644)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("make the data dir: %w", err)
	}
	var r [5]byte
	rand.Read(r[:])
	zone := "hub-" + strings.ToLower(base32.StdEncoding.EncodeToString(r[:])) + "." + HubZoneParent
	if err := atomicfile.Write(path, []byte(zone+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("record the hub's zone: %w", err)
	}
	return zone, nil
}

// LANAddrs returns the addresses of the machine's interfaces that are up
// and inside the local ranges (names.LocalRanges), without loopback and
// link-local ones: where devices on the LAN reach a hub. IPv4 first.
func LANAddrs() ([]netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	ranges := names.LocalRanges()
	var out []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || !slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				continue
			}
			out = append(out, ip)
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		if a.Is4() != b.Is4() {
			if a.Is4() {
				return -1
			}
			return 1
		}
		return 0
	})
	return out, nil
}
