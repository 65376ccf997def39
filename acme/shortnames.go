package acme

import (
	"context"
	"crypto/x509"
	"slices"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// extraNames returns the names the owner gave the device (its short name
// in the zone, and in .local where asked) that the signer adds to its
// certificates (ca.NameAdder), or none for a signer that does not (the
// upstream CA proves only L.Z and *.L.Z). A store failure costs only the
// extra names, never the certificate.
func (s *Server) extraNames(ctx context.Context, deviceID string) []string {
	adder, ok := s.signer.(ca.NameAdder)
	if !ok {
		return nil
	}
	n, err := s.store.GetDeviceShortName(ctx, deviceID)
	if err != nil {
		s.log.WarnContext(ctx, "acme short name unavailable; issuing without it", "device", deviceID, "err", err)
		return nil
	}
	var out []string
	for _, name := range names.ShortNames(n.Name, s.zone, n.MDNS) {
		if adder.AddsName(name) {
			out = append(out, name)
		}
	}
	return out
}

// namesOutdated reports whether leaf, signed here for a device, carries
// other extra names than the device has now: a short name given, changed
// or taken away since. Its ARI window then opens at once (RFC 9773
// section 4.2 lets the server move it), so the device's next certificate
// comes within minutes rather than at two thirds of its lifetime.
func (s *Server) namesOutdated(ctx context.Context, cert *store.Certificate, leaf *x509.Certificate) bool {
	if _, ok := s.signer.(ca.NameAdder); !ok {
		return false
	}
	want := s.extraNames(ctx, cert.DeviceID)
	var have []string
	for _, n := range leaf.DNSNames {
		if !slices.Contains(cert.Names, n) {
			have = append(have, n)
		}
	}
	slices.Sort(want)
	slices.Sort(have)
	return !slices.Equal(want, have)
}
