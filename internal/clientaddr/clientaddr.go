// Package clientaddr finds the address of the client behind a load
// balancer or reverse proxy, so that per-source rate limits count clients
// and not the proxy: from X-Forwarded-For, or from a PROXY protocol
// version 2 header, and only when the connection comes from an address
// the operator listed as a proxy. From anywhere else both are ignored: a
// client that could set them would pick its own rate-limit bucket.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the prefixes of the proxies whose word about the client is
// taken.
type Proxies []netip.Prefix

// ParseProxies parses comma-separated addresses and CIDR prefixes.
func ParseProxies(s string) (Proxies, error) {
	var ps Proxies
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// Contains reports whether addr is one of the proxies.
func (ps Proxies) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Handler sets r.RemoteAddr to the client's address for h when the request
// came from one of the proxies and carries X-Forwarded-For: the rightmost
// address in it that is not itself a proxy (each proxy appends the
// address it saw, so addresses left of the last untrusted one may be made
// up by the client). Other requests pass unchanged, X-Forwarded-For and
// all. Without proxies, h itself is returned.
func (ps Proxies) Handler(h http.Handler) http.Handler {
	if len(ps) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr, ok := ps.forwardedFor(r); ok {
			r2 := *r
			r2.RemoteAddr = netip.AddrPortFrom(addr, 0).String()
			r = &r2
		}
		h.ServeHTTP(w, r)
	})
}

// maxForwarded bounds the addresses read from X-Forwarded-For.
const maxForwarded = 32

func (ps Proxies) forwardedFor(r *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !ps.Contains(peer.Addr()) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
			if len(hops) > maxForwarded {
				hops = hops[1:]
			}
		}
	}
	return ps.client(hops)
}

// client picks the client's address from hops, the addresses of
// X-Forwarded-For in order: the rightmost that is not a proxy. A hop that
// is not an address ends the search: what lies left of it is not known.
func (ps Proxies) client(hops []string) (netip.Addr, bool) {
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil || a.Zone() != "" {
			return netip.Addr{}, false
		}
		a = a.Unmap()
		if !ps.Contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// peerAddr is the address of a connection's peer.
func peerAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
