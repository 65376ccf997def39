package dnsserver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/lantls/lantls/store"
)

// Source is what the DNS server reads from the store: the change counter it
// polls, the snapshot it loads at start, and the change feed it follows
// after that. store.Store implements it.
type Source interface {
	DNSVersion(ctx context.Context) (int64, error)
	DNSSnapshot(ctx context.Context, now time.Time) (*store.DNSSnapshot, error)
	DNSChanges(ctx context.Context, since int64, now time.Time) (*store.DNSDelta, error)
}

// index is the zone's small, immutable part, swapped whole on every
// change: the names of name servers and TXT records, and the empty
// non-terminals above them. Queries read it without locks.
type index struct {
	version int64
	serial  uint32
	// nodes holds every name besides the apex, the devices (deviceTable)
	// and the stateless address-names, keyed by its labels below the
	// apex, lowercase ("_acme-challenge.<label>", "ns1").
	nodes map[string]*node
	// expires is when the first TXT record in the index expires: the
	// index is rebuilt then, even if the store did not change.
	expires time.Time
}

// deviceTable is the zone's large part: a node per active device's label
// and per short name. It is changed in place by each change the store
// reports (apply), so the cost of a change does not grow with the number
// of devices; queries read it under the read lock.
type deviceTable struct {
	mu     sync.RWMutex
	labels map[string]*node
	short  map[string]shortName
	// shortOf is the short name of each device that has one, by ID.
	shortOf map[string]string
}

// shortName is a short name's node and the device that holds it.
type shortName struct {
	id string
	n  *node
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

// buildIndex makes the small part of the zone: the name servers and the
// TXT records, as of the counter version.
func buildIndex(version int64, txt []store.TXTRecord, cfg *Config) *index {
	idx := &index{
		version: version,
		serial:  uint32(version),
		nodes:   make(map[string]*node, len(cfg.NS)+2*len(txt)),
	}
	get := func(rel string) *node {
		n := idx.nodes[rel]
		if n == nil {
			n = &node{}
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
	for _, x := range txt {
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

// newDeviceTable makes the table of every device in a snapshot.
func newDeviceTable(devices []store.DeviceDNS, cfg *Config) *deviceTable {
	t := &deviceTable{
		labels:  make(map[string]*node, len(devices)),
		short:   map[string]shortName{},
		shortOf: map[string]string{},
	}
	for _, d := range devices {
		t.apply(d, cfg)
	}
	return t
}

// apply makes the table show d as the store now has it: an active device
// gets its label (and short name) with its addresses; any other loses
// them. The caller holds the write lock, or owns a table not yet shared.
func (t *deviceTable) apply(d store.DeviceDNS, cfg *Config) {
	if old, ok := t.shortOf[d.DeviceID]; ok && (old != d.ShortName || !d.Active) {
		// A name freed by this device may already be another's (the
		// feed orders devices by their last change): drop only its own.
		if t.short[old].id == d.DeviceID {
			delete(t.short, old)
		}
		delete(t.shortOf, d.DeviceID)
	}
	if !d.Active {
		delete(t.labels, d.Label)
		return
	}
	t.labels[d.Label] = deviceNode(d, cfg)
	if d.ShortName != "" {
		// <short>.Z answers the device's reported addresses, whatever its
		// choice about L.Z, since the owner gave the name to be used.
		n := &node{}
		for _, a := range d.Addresses {
			// A name people share never points at their own machine, nor
			// at an address a URL cannot carry without its interface.
			if cfg.allowed(a) && !a.Unmap().IsLoopback() && !a.IsLinkLocalUnicast() {
				n.add(a)
			}
		}
		t.short[d.ShortName] = shortName{id: d.DeviceID, n: n}
		t.shortOf[d.DeviceID] = d.ShortName
	}
}

// deviceNode is the node of an active device's label.
func deviceNode(d store.DeviceDNS, cfg *Config) *node {
	if !cfg.publishes(d.Publish) || len(d.Addresses) == 0 {
		// Most devices: one shared node, no allocation.
		return bareDevice
	}
	n := &node{device: true}
	for _, a := range d.Addresses {
		if cfg.allowed(a) {
			n.add(a)
		}
	}
	return n
}

// lookup returns the node of rel (labels below the apex, lowercase): a
// device's label first, then a name server's or TXT record's name (or an
// empty non-terminal above one), then a short name, which never shadows
// the others; nil if there is none.
func (s *Server) lookup(idx *index, rel []byte) *node {
	t := s.devs.Load()
	t.mu.RLock()
	n, sn := t.labels[string(rel)], t.short[string(rel)]
	t.mu.RUnlock()
	if n != nil {
		return n
	}
	if n := idx.nodes[string(rel)]; n != nil {
		return n
	}
	return sn.n
}

// isDevice reports whether label is an active device's, whose
// address-names then answer.
func (s *Server) isDevice(label []byte) bool {
	t := s.devs.Load()
	t.mu.RLock()
	n := t.labels[string(label)]
	t.mu.RUnlock()
	return n != nil
}

// devices returns how many active devices the table holds.
func (t *deviceTable) devices() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.labels)
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
