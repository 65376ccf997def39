package dnsserver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/lantls/lantls/store"
)

// Source is what the DNS server reads from the store: the change counter it
// polls and the snapshot it loads when the counter moves. store.Store
// implements it.
type Source interface {
	DNSVersion(ctx context.Context) (int64, error)
	DNSSnapshot(ctx context.Context, now time.Time) (*store.DNSSnapshot, error)
}

// index is one immutable state of the zone, swapped whole when the store
// changes. Queries read it without locks or store access.
type index struct {
	version int64
	serial  uint32
	// nodes holds every name that exists in the zone besides the apex and
	// the stateless address-names, keyed by its labels below the apex,
	// lowercase ("<label>", "_acme-challenge.<label>", "ns1").
	nodes map[string]*node
	// expires is when the first TXT record in the index expires: the
	// index is reloaded then, even if the store did not change.
	expires time.Time
	devices int
}

// node is one name's records. A device node answers its address-names
// below it; a node with no records is an empty non-terminal, or a device
// that does not publish its addresses.
type node struct {
	device bool
	a      []net.IP // 4-byte forms
	aaaa   []net.IP
	txt    [][]string // each record's character-strings
}

// buildIndex makes the index of snap for the zone.
func buildIndex(snap *store.DNSSnapshot, cfg *Config) *index {
	idx := &index{
		version: snap.Version,
		serial:  uint32(snap.Version),
		nodes:   make(map[string]*node, len(snap.Devices)+len(cfg.NS)+len(snap.TXT)),
	}
	get := func(rel string) *node {
		n := idx.nodes[rel]
		if n == nil || n == bareDevice {
			n = &node{device: n == bareDevice}
			idx.nodes[rel] = n
		}
		return n
	}
	for _, ns := range cfg.NS {
		rel, ok := relative(ns.Name, cfg.Zone)
		if !ok || rel == "" {
			continue
		}
		n := get(rel)
		for _, a := range ns.Addrs {
			n.add(a)
		}
		addParents(idx, rel)
	}
	for _, d := range snap.Devices {
		if !d.Active {
			continue
		}
		idx.devices++
		if !cfg.publishes(d.Publish) || len(d.Addresses) == 0 {
			// Most devices: one shared node, no allocation, unless a TXT
			// record below gives the label a node of its own (below).
			if idx.nodes[d.Label] == nil {
				idx.nodes[d.Label] = bareDevice
			}
			continue
		}
		n := get(d.Label)
		n.device = true
		for _, a := range d.Addresses {
			if cfg.allowed(a) {
				n.add(a)
			}
		}
	}
	// Short names after every label and name server, which they never
	// shadow: <short>.Z answers the device's reported addresses, whatever
	// its choice about L.Z, since the owner gave the name to be used.
	for _, d := range snap.Devices {
		if !d.Active || d.ShortName == "" || idx.nodes[d.ShortName] != nil {
			continue
		}
		n := get(d.ShortName)
		for _, a := range d.Addresses {
			if cfg.allowed(a) {
				n.add(a)
			}
		}
	}
	for _, x := range snap.TXT {
		rel, ok := relative(x.Name, cfg.Zone)
		if !ok {
			continue
		}
		n := get(rel)
		n.txt = append(n.txt, txtStrings(x.Value))
		addParents(idx, rel)
		if idx.expires.IsZero() || x.Expires.Before(idx.expires) {
			idx.expires = x.Expires
		}
	}
	return idx
}

// bareDevice is the node of every device that publishes no addresses: it
// only makes the label's address-names answer. Never modified.
var bareDevice = &node{device: true}

func (n *node) add(a netip.Addr) {
	a = a.Unmap()
	b := a.AsSlice()
	if a.Is4() {
		n.a = append(n.a, net.IP(b))
	} else {
		n.aaaa = append(n.aaaa, net.IP(b))
	}
}

// addParents makes every name between rel and the apex exist, as an empty
// non-terminal where nothing else is there (RFC 8020: a name with
// descendants is never NXDOMAIN).
func addParents(idx *index, rel string) {
	for {
		i := strings.IndexByte(rel, '.')
		if i < 0 {
			return
		}
		rel = rel[i+1:]
		if idx.nodes[rel] == nil {
			idx.nodes[rel] = &node{}
		}
	}
}

// relative returns name's labels below zone (both lowercase, without the
// trailing dot): "" for the apex, false for a name outside the zone.
func relative(name, zone string) (string, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == zone {
		return "", true
	}
	if !strings.HasSuffix(name, "."+zone) {
		return "", false
	}
	return name[:len(name)-len(zone)-1], true
}

// txtStrings splits a TXT value into the character-strings of RFC 1035
// section 3.3.14 (at most 255 bytes each), escaped as miekg/dns expects
// them (it reads backslash escapes when it packs).
func txtStrings(v string) []string {
	escape := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	var out []string
	for {
		chunk := v[:min(len(v), 255)]
		out = append(out, escape.Replace(chunk))
		v = v[len(chunk):]
		if v == "" {
			return out
		}
	}
}
