package clientaddr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// PROXY protocol version 2 (haproxy.org/download/2.9/doc/proxy-protocol.txt,
// section 2.2): a binary header a load balancer sends before the client's
// bytes, naming the client's address.

// signature starts every version 2 header.
var signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// headerTimeout bounds the wait for a proxy's header.
const headerTimeout = 10 * time.Second

// maxTLVs bounds the bytes after the addresses (TLVs), which are skipped.
const maxTLVs = 1024

// errHeader is any malformed PROXY header.
var errHeader = errors.New("clientaddr: malformed PROXY protocol v2 header")

// Listener wraps ln: a connection from one of the proxies must start with
// a PROXY protocol version 2 header, and its RemoteAddr is the client the
// header names (the proxy's own for a LOCAL command, such as a health
// check). Connections from elsewhere pass unchanged. The header is read
// by the connection's first RemoteAddr, Read or Write, in the goroutine
// that serves it, never in Accept; a connection without a valid header is
// closed.
func (ps Proxies) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, ps: ps}
}

type listener struct {
	net.Listener
	ps Proxies
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || !l.ps.Contains(peerAddr(c)) {
		return c, err
	}
	return &conn{Conn: c}, nil
}

type conn struct {
	net.Conn
	once   sync.Once
	remote net.Addr
	err    error
}

func (c *conn) header() {
	c.once.Do(func() {
		c.Conn.SetReadDeadline(time.Now().Add(headerTimeout))
		addr, err := readHeader(c.Conn)
		c.Conn.SetReadDeadline(time.Time{})
		c.remote, c.err = c.Conn.RemoteAddr(), err
		if err != nil {
			c.Conn.Close()
			return
		}
		if addr.IsValid() {
			c.remote = net.TCPAddrFromAddrPort(addr)
		}
	})
}

func (c *conn) RemoteAddr() net.Addr {
	c.header()
	return c.remote
}

func (c *conn) Read(b []byte) (int, error) {
	c.header()
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(b)
}

func (c *conn) Write(b []byte) (int, error) {
	c.header()
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Write(b)
}

// readHeader reads exactly one version 2 header from r and returns the
// source address it names (invalid for LOCAL and for families other than
// TCP over IPv4 or IPv6).
func readHeader(r io.Reader) (netip.AddrPort, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil || !bytes.Equal(fixed[:12], signature) {
		return netip.AddrPort{}, errHeader
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > 216+maxTLVs {
		return netip.AddrPort{}, errHeader
	}
	h := make([]byte, 16+n)
	copy(h, fixed[:])
	if _, err := io.ReadFull(r, h[16:]); err != nil {
		return netip.AddrPort{}, errHeader
	}
	return ParseHeader(h)
}

// ParseHeader parses one whole version 2 header and returns the source
// address it names: invalid (and no error) for a LOCAL command or an
// address family other than TCP over IPv4 or IPv6.
func ParseHeader(h []byte) (netip.AddrPort, error) {
	if len(h) < 16 || !bytes.Equal(h[:12], signature) {
		return netip.AddrPort{}, errHeader
	}
	verCmd, fam := h[12], h[13]
	n := int(binary.BigEndian.Uint16(h[14:16]))
	if verCmd>>4 != 2 || len(h) != 16+n {
		return netip.AddrPort{}, errHeader
	}
	body := h[16:]
	switch verCmd & 0xf {
	case 0: // LOCAL: the proxy speaks for itself
		return netip.AddrPort{}, nil
	case 1: // PROXY
	default:
		return netip.AddrPort{}, errHeader
	}
	var size int
	switch fam {
	case 0x11: // TCP over IPv4
		size = 4
	case 0x21: // TCP over IPv6
		size = 16
	default: // UNSPEC, UDP, UNIX: no address to take
		return netip.AddrPort{}, nil
	}
	if len(body) < 2*size+4 {
		return netip.AddrPort{}, errHeader
	}
	src, _ := netip.AddrFromSlice(body[:size])
	port := binary.BigEndian.Uint16(body[2*size:])
	return netip.AddrPortFrom(src.Unmap(), port), nil
}
