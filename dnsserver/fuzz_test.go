package dnsserver

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandler feeds arbitrary messages through what the server does with
// a packet: the header screen, parsing, and the handler. Whatever comes
// in, it must not panic, and every response it makes must pack, fit the
// UDP limit, and answer the query's ID.
func FuzzHandler(f *testing.F) {
	z := newZone(f, testZone, nil)
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{
		{"192-168-1-20." + z.quiet.Label + ".lan.example.net.", dns.TypeA, 0},
		{"fd00-0-0-0-0-0-0-20." + z.quiet.Label + ".LAN.example.net.", dns.TypeAAAA, 1232},
		{z.crowded.Label + ".lan.example.net.", dns.TypeAAAA, 0},
		{"_acme-challenge." + z.quiet.Label + ".lan.example.net.", dns.TypeTXT, 4096},
		{"lan.example.net.", dns.TypeANY, 512},
		{"lan.example.net.", dns.TypeNS, 0},
		{"example.com.", dns.TypeA, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns > 0 {
			m.SetEdns0(q.edns, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, false) // a pointer loop
	f.Fuzz(func(t *testing.T, b []byte, tcp bool) {
		resp := z.srv.handleWire(b, tcp)
		if resp == nil {
			return
		}
		out, err := resp.Pack()
		if err != nil {
			t.Fatalf("response does not pack: %v\n%v", err, resp)
		}
		if !tcp && len(out) > maxUDPSize {
			t.Fatalf("UDP response of %d bytes", len(out))
		}
		if len(b) >= 2 && resp.Id != uint16(b[0])<<8|uint16(b[1]) {
			t.Fatalf("response ID %d for query ID %d", resp.Id, uint16(b[0])<<8|uint16(b[1]))
		}
	})
}

// handleWire does with the packet b what the miekg/dns server does before
// and around the handler: the header screen (accept), parsing, a FORMERR
// or NOTIMP for what fails them, then respond. nil means no response.
func (s *Server) handleWire(b []byte, tcp bool) *dns.Msg {
	if len(b) < 12 {
		return nil
	}
	h := dns.Header{
		Id: binary.BigEndian.Uint16(b), Bits: binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]), Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]), Arcount: binary.BigEndian.Uint16(b[10:]),
	}
	action := accept(h)
	if action == dns.MsgIgnore {
		return nil
	}
	req := new(dns.Msg)
	if action == dns.MsgAccept {
		if err := req.Unpack(b); err == nil {
			return s.respond(req, tcp)
		}
	}
	req.Id = h.Id
	req.Opcode = int(h.Bits>>11) & 0xf
	resp := new(dns.Msg)
	resp.SetRcodeFormatError(req)
	if action == dns.MsgRejectNotImplemented {
		resp.Rcode = dns.RcodeNotImplemented
	}
	resp.Question = nil
	return resp
}
