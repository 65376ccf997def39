package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkRespond measures the handler alone (no sockets, no packing) for
// each kind of name in bench/dns.sh's mix.
func BenchmarkRespond(b *testing.B) {
	z := newZone(b, testZone, nil)
	q := z.quiet.Label + "." + testZone + "."
	p := z.public.Label + "." + testZone + "."
	for _, c := range []struct {
		name, qname string
		qtype       uint16
	}{
		{"address-name", "192-168-1-20." + q, dns.TypeA},
		{"ipv6-address-name", "fd00-0-0-0-0-0-0-20." + q, dns.TypeAAAA},
		{"device-name", p, dns.TypeA},
		{"nxdomain", "192-168-1-20.aaaaaaaaaaaaaaaaaaaaaaaaaa." + testZone + ".", dns.TypeA},
		{"txt", "_acme-challenge." + q, dns.TypeTXT},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := new(dns.Msg)
			req.SetQuestion(c.qname, c.qtype)
			b.ReportAllocs()
			for b.Loop() {
				z.srv.respond(req, false)
			}
		})
	}
}
