package store

import "time"

// ShortName is a name the owner gave a device, unique in the zone: the
// local signer adds <Name>.Z to the device's next certificate, and
// <Name>.local as well where MDNS is set (and the CA's root permits it);
// the DNS answers <Name>.Z with the device's reported addresses.
type ShortName struct {
	Name string // one DNS label, lowercase; "" for none
	MDNS bool   // also <Name>.local, for clients that resolve mDNS
}

// NameCheckResult is the outcome of a device's check that one of its
// address-names resolves through the device's own system resolver.
type NameCheckResult string

// The outcomes of a name check. NameCheckFiltered is the rebind filter's
// mark: the resolver answered, but without the private address.
const (
	NameCheckNone     NameCheckResult = ""         // never checked
	NameCheckOK       NameCheckResult = "ok"       // the address came back
	NameCheckFiltered NameCheckResult = "filtered" // an answer with no address: a DNS-rebind filter
	NameCheckFailed   NameCheckResult = "failed"   // no answer, or NXDOMAIN: the resolver does not reach the zone
)

// NameCheck is what the device reported of its last name check.
type NameCheck struct {
	Result NameCheckResult
	Name   string // the address-name it asked for
	Detail string // plain text, at most MaxStatusError bytes
	At     time.Time
}
