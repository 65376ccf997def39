package local

import (
	"crypto/x509"
	"strings"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/names"
)

var _ ca.NameAdder = (*CA)(nil)

// AddsName reports whether the CA signs name as an extra name of a
// device: a name in the zone, or one that the DNS name constraints of
// both its root and its intermediate permit (a root made with `lantls ca
// init --permit local` lets devices carry tv.local). An old root without
// constraints never widens what devices may carry.
func (c *CA) AddsName(name string) bool {
	if n, err := names.Normalize(name); err != nil || n != name || strings.HasPrefix(name, "*.") {
		return false
	}
	if names.InZone(name, c.zone) {
		return true
	}
	return permitsDNS(c.root, name) && permitsDNS(c.current().inter, name)
}

// permitsDNS is permits for a certificate that has permitted DNS subtrees.
func permitsDNS(cert *x509.Certificate, name string) bool {
	return len(cert.PermittedDNSDomains) > 0 && permits(cert, name)
}
