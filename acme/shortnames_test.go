package acme_test

import (
	"slices"
	"testing"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/store"
)

// TestShortNameInCertificate checks that the local signer puts the owner's
// short name beside L.Z and *.L.Z, that ARI opens the window at once when
// the short name changes, that the next certificate carries the new one,
// and that ordering the short name itself is still refused (a device
// orders only names below its label).
func TestShortNameInCertificate(t *testing.T) {
	h := newHarness(t)
	dev := h.newDevice("")
	if err := h.store.SetDeviceShortName(h.ctx, dev.ID, store.ShortName{Name: "tv", MDNS: true}); err != nil {
		t.Fatal(err)
	}
	c := h.account(dev)
	_, chain := h.issue(c, dev.name(""), dev.name("*"))
	// tv.local is not there: the harness's root permits only the zone.
	if want := []string{dev.name(""), dev.name("*"), "tv." + testZone}; !slices.Equal(chain[0].DNSNames, want) {
		t.Errorf("names %q, want %q", chain[0].DNSNames, want)
	}
	if err := h.verify(chain, "tv."+testZone); err != nil {
		t.Errorf("verify tv.%s: %v", testZone, err)
	}
	now := h.clock.Now()
	if w := renewalInfo(t, h, certID(t, chain[0])); !w.Start.After(now) {
		t.Errorf("window %+v opens before %v with the short name unchanged", w, now)
	}

	if err := h.store.SetDeviceShortName(h.ctx, dev.ID, store.ShortName{Name: "den"}); err != nil {
		t.Fatal(err)
	}
	if w := renewalInfo(t, h, certID(t, chain[0])); !w.Start.Before(now) || !w.End.After(now) {
		t.Errorf("window %+v does not hold %v after the short name changed", w, now)
	}
	_, chain = h.issue(c, dev.name(""), dev.name("*"))
	if want := []string{dev.name(""), dev.name("*"), "den." + testZone}; !slices.Equal(chain[0].DNSNames, want) {
		t.Errorf("names after the change %q, want %q", chain[0].DNSNames, want)
	}
	if w := renewalInfo(t, h, certID(t, chain[0])); !w.Start.After(now) {
		t.Errorf("window %+v of the new certificate opens at once", w)
	}

	if _, err := h.tryNewOrder(c, map[string]any{"identifiers": dnsIDs("den." + testZone)}); err == nil {
		t.Errorf("an order for the short name itself succeeded; want rejectedIdentifier")
	}
}

// plainSigner hides the local CA's AddsName, as the upstream signer has
// none: it proves only L.Z and *.L.Z.
type plainSigner struct{ ca.Signer }

// TestShortNameNotAddedWithoutNameAdder checks that a signer that adds no
// names (the upstream one) is never handed the short name, and that ARI
// does not ask for a renewal it could not satisfy.
func TestShortNameNotAddedWithoutNameAdder(t *testing.T) {
	h := newHarness(t, func(c *acme.Config) { c.Signer = plainSigner{c.Signer} })
	dev := h.newDevice("")
	if err := h.store.SetDeviceShortName(h.ctx, dev.ID, store.ShortName{Name: "tv"}); err != nil {
		t.Fatal(err)
	}
	c := h.account(dev)
	_, chain := h.issue(c, dev.name(""), dev.name("*"))
	if want := []string{dev.name(""), dev.name("*")}; !slices.Equal(chain[0].DNSNames, want) {
		t.Errorf("names %q, want %q alone", chain[0].DNSNames, want)
	}
	if w := renewalInfo(t, h, certID(t, chain[0])); !w.Start.After(h.clock.Now()) {
		t.Errorf("window %+v opens at once for a signer that cannot add the short name", w)
	}
}
