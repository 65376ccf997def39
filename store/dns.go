package store

import (
	"net/netip"
	"time"
)

// Publish is a device's choice about its name L.Z: whether the DNS answers
// it with the addresses the device last reported. The label is in every
// certificate and so in public CT logs; a published L.Z tells anyone who
// asks the device's LAN addresses. Address-names (<addr>.L.Z) are answered
// either way: they reveal nothing the asker did not already know.
type Publish string

// The three choices. PublishDefault follows the zone: on for zones under
// special-use names that never reach public DNS, off for others (package
// dnsserver decides).
const (
	PublishDefault Publish = ""
	PublishOn      Publish = "on"
	PublishOff     Publish = "off"
)

// DeviceDNS is what the DNS serves for one device besides its
// address-names: the addresses it last reported and its publish choice.
type DeviceDNS struct {
	DeviceID  string
	Label     string
	Addresses []netip.Addr // in the order reported; nil if none
	Publish   Publish
	Active    bool   // the device's status is active
	ShortName string // the owner's short name for it, "" for none
	// Port is the TCP port the device serves HTTPS on, as it reported it;
	// 0 when it did not, which means 443.
	Port int
}

// TXTRecord is a TXT record in the zone, e.g. an ACME dns-01 challenge at
// _acme-challenge.L.Z. Name is fully qualified, lowercase, without the
// trailing dot.
type TXTRecord struct {
	Name    string
	Value   string
	Expires time.Time
}

// DNSSnapshot is everything the DNS serves from the store, as of Version.
type DNSSnapshot struct {
	// Version is the DNS change counter (Tx.DNSVersion) read before the
	// rest, so the records are at least as new as it says.
	Version int64
	// Devices holds every active device with its addresses and choice,
	// oldest first.
	Devices []DeviceDNS
	// TXT holds every TXT record that has not expired at the time asked,
	// by name, then value.
	TXT []TXTRecord
}

// DNSDelta is what changed in the DNS since a counter value: the change
// feed a DNS index follows instead of reloading every device.
type DNSDelta struct {
	// Version is the DNS change counter read before the rest, as in
	// DNSSnapshot: the index that applies the delta is at least this new.
	Version int64
	// Devices holds every device whose DNS data changed after the
	// counter asked for, in the order of their last change: active ones
	// with their addresses, choice and short name; others (revoked,
	// unpaired, deleted) with Active false and their label, for the index
	// to drop.
	Devices []DeviceDNS
	// TXT holds every TXT record that has not expired, as in DNSSnapshot:
	// they are few (ACME challenges in flight).
	TXT []TXTRecord
}
