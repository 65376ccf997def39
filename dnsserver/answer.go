package dnsserver

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/lantls/lantls/names"
)

// TTLs. Device records change when a device moves or is revoked, so they
// live a minute; the apex changes only with the configuration.
const (
	deviceTTL = 60
	apexTTL   = 3600
	// negativeTTL is the SOA MINIMUM, which resolvers cache NXDOMAIN and
	// NODATA for (RFC 2308 section 5): a device paired a minute ago is
	// found a minute later at worst.
	negativeTTL = 60
	// maxUDPSize is what the server advertises and the most it sends over
	// UDP whatever the client offers: 1232 bytes avoid IP fragmentation
	// on every common path (DNS Flag Day 2020).
	maxUDPSize = 1232
)

// apex holds the records at the zone's apex, built once.
type apex struct {
	mname, rname string
	ns           []string // targets, fully qualified
	glue         []glue   // A/AAAA for the name servers inside the zone
	caa          []CAA
}

type glue struct {
	name string // fully qualified, lowercase
	ip   net.IP
}

func newApex(cfg *Config) apex {
	a := apex{
		mname: fqdn(cfg.NS[0].Name),
		rname: "hostmaster." + cfg.zoneFQDN,
		caa:   cfg.CAA,
	}
	for _, ns := range cfg.NS {
		a.ns = append(a.ns, fqdn(ns.Name))
		for _, ip := range ns.Addrs {
			a.glue = append(a.glue, glue{name: fqdn(ns.Name), ip: net.IP(ip.Unmap().AsSlice())})
		}
	}
	return a
}

// serveUDP answers one UDP query, subject to response rate limiting.
func (s *Server) serveUDP(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.respond(req, false)
	if s.rrl != nil {
		src := addrOf(w.RemoteAddr())
		switch s.rrl.allow(src, time.Now().UnixNano()) { // real time, whatever the configured clock
		case rrlDrop:
			s.metrics.rrlDropped.Inc()
			return
		case rrlSlip:
			s.metrics.rrlSlipped.Inc()
			resp.Answer, resp.Ns = nil, nil
			resp.Extra = keepOPT(resp.Extra)
			resp.Truncated = true
		}
	}
	s.metrics.count(resp.Rcode)
	w.WriteMsg(resp)
}

// serveTCP answers one TCP query. TCP needs a handshake, so its source is
// real and it is never rate limited.
func (s *Server) serveTCP(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.respond(req, true)
	s.metrics.count(resp.Rcode)
	w.WriteMsg(resp)
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	}
	return netip.Addr{}
}

// respond builds the response to req, a message that passed accept and
// parsed. Over UDP it fits the response into the client's buffer,
// setting TC where records had to go (RFC 1035 section 4.2.1, RFC 6891
// section 6.2.5).
func (s *Server) respond(req *dns.Msg, tcp bool) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	if req.Opcode != dns.OpcodeQuery {
		resp.Question = nil
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	}
	if len(req.Question) != 1 {
		resp.Question = nil
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	size := dns.MinMsgSize
	if tcp {
		size = dns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		// RFC 6891 section 6.1.3: an unknown version is BADVERS, with our
		// OPT and nothing else. The DO bit is copied (RFC 3225 section 3).
		resp.SetEdns0(maxUDPSize, opt.Do())
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			return resp
		}
		if !tcp {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		}
	}
	s.answer(resp, req.Question[0])
	if tcp {
		resp.Compress = true
	} else {
		resp.Truncate(size)
	}
	return resp
}

// answer fills resp's sections for the question q.
func (s *Server) answer(resp *dns.Msg, q dns.Question) {
	qname := q.Name
	zone := s.cfg.zoneFQDN
	n := len(qname)
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY ||
		n < len(zone) || !strings.EqualFold(qname[n-len(zone):], zone) ||
		n > len(zone) && qname[n-len(zone)-1] != '.' {
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	apexName := qname[n-len(zone):] // the apex as the query spells it
	if n == len(zone) {
		s.answerApex(resp, q, apexName)
		return
	}
	// The labels below the apex, lowercased on the stack: a map index by
	// string(b) does not allocate.
	var buf [256]byte
	if n-len(zone)-1 > len(buf) {
		// Only names with escapes in their presentation form get here;
		// no name in the zone has any.
		resp.Rcode = dns.RcodeNameError
		s.negative(resp, apexName, s.idx.Load())
		return
	}
	rel := buf[:n-len(zone)-1]
	for i := range rel {
		c := qname[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		rel[i] = c
	}
	idx := s.idx.Load()
	if nd := s.lookup(idx, rel); nd != nil {
		if !s.answerNode(resp, q, nd) {
			s.negative(resp, apexName, idx)
		}
		return
	}
	if s.answerAddress(resp, q, rel, idx) {
		return
	}
	resp.Rcode = dns.RcodeNameError
	s.negative(resp, apexName, idx)
}

// answerAddress answers <addr>.<label> for an active device and an address
// in the allowed ranges, and reports whether that name exists.
func (s *Server) answerAddress(resp *dns.Msg, q dns.Question, rel []byte, idx *index) bool {
	dot := -1
	for i, c := range rel {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot <= 0 {
		return false
	}
	if !s.isDevice(rel[dot+1:]) {
		return false
	}
	addr, err := names.ParseAddressLabel(string(rel[:dot]))
	if err != nil || !s.cfg.allowed(addr) {
		return false
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: deviceTTL}
	switch {
	case addr.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
		b := addr.As4()
		hdr.Rrtype = dns.TypeA
		resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: net.IP(b[:])})
	case addr.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
		b := addr.As16()
		hdr.Rrtype = dns.TypeAAAA
		resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(b[:])})
	default:
		s.negative(resp, q.Name[len(q.Name)-len(s.cfg.zoneFQDN):], idx)
	}
	return true
}

// answerNode answers q from a name's records and reports whether it found
// any. ANY gets one RRset, the first of A, AAAA and TXT there is (RFC
// 8482 section 4.1).
func (s *Server) answerNode(resp *dns.Msg, q dns.Question, nd *node) bool {
	t := q.Qtype
	if t == dns.TypeANY {
		switch {
		case len(nd.a) > 0:
			t = dns.TypeA
		case len(nd.aaaa) > 0:
			t = dns.TypeAAAA
		case len(nd.txt) > 0:
			t = dns.TypeTXT
		}
	}
	hdr := dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: deviceTTL}
	switch t {
	case dns.TypeA:
		for _, ip := range nd.a {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: ip})
		}
	case dns.TypeAAAA:
		for _, ip := range nd.aaaa {
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
		}
	case dns.TypeTXT:
		for _, txt := range nd.txt {
			resp.Answer = append(resp.Answer, &dns.TXT{Hdr: hdr, Txt: txt})
		}
	}
	return len(resp.Answer) > 0
}

// answerApex answers q at the apex: SOA, NS (with glue), CAA, and any
// TXT records put there.
func (s *Server) answerApex(resp *dns.Msg, q dns.Question, name string) {
	idx := s.idx.Load()
	switch q.Qtype {
	case dns.TypeSOA, dns.TypeANY:
		resp.Answer = append(resp.Answer, s.soa(name, idx, apexTTL))
	case dns.TypeNS:
		for _, ns := range s.apex.ns {
			resp.Answer = append(resp.Answer, &dns.NS{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: apexTTL}, Ns: ns})
		}
		for _, g := range s.apex.glue {
			resp.Extra = append(resp.Extra, addressRR(g.name, g.ip, apexTTL))
		}
	case dns.TypeCAA:
		for _, c := range s.apex.caa {
			resp.Answer = append(resp.Answer, &dns.CAA{
				Hdr:  dns.RR_Header{Name: name, Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: apexTTL},
				Flag: c.Flag, Tag: c.Tag, Value: c.Value})
		}
	default:
		if nd := idx.nodes[""]; nd != nil {
			s.answerNode(resp, q, nd)
		}
	}
	if len(resp.Answer) == 0 {
		s.negative(resp, name, idx)
	}
}

// negative puts the SOA in the authority section of an NXDOMAIN or NODATA
// response, with the negative TTL as its TTL (RFC 2308 section 3).
func (s *Server) negative(resp *dns.Msg, apexName string, idx *index) {
	resp.Ns = append(resp.Ns, s.soa(apexName, idx, negativeTTL))
}

func (s *Server) soa(name string, idx *index, ttl uint32) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      s.apex.mname,
		Mbox:    s.apex.rname,
		Serial:  idx.serial,
		Refresh: 3600,
		Retry:   600,
		Expire:  604800,
		Minttl:  negativeTTL,
	}
}

func addressRR(name string, ip net.IP, ttl uint32) dns.RR {
	if ip4 := ip.To4(); ip4 != nil {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip4}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip}
}

// keepOPT returns the OPT record of extra, if any, alone.
func keepOPT(extra []dns.RR) []dns.RR {
	for _, rr := range extra {
		if opt, ok := rr.(*dns.OPT); ok {
			return []dns.RR{opt}
		}
	}
	return nil
}
