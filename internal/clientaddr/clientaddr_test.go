package clientaddr

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustProxies(t testing.TB, s string) Proxies {
	t.Helper()
	ps, err := ParseProxies(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParseProxies(t *testing.T) {
	ps := mustProxies(t, "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
	for addr, want := range map[string]bool{"10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false, "2001:db8::1": true, "::ffff:10.0.0.1": true, "8.8.8.8": false} {
		if got := ps.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "fe80::1%eth0"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
}

func TestForwardedFor(t *testing.T) {
	ps := mustProxies(t, "10.0.0.0/8")
	var seen string
	h := ps.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	for _, tt := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"10.0.0.1:5000", []string{"198.51.100.7"}, "198.51.100.7:0"},
		// The client made up the left part; the last proxy saw 198.51.100.7.
		{"10.0.0.1:5000", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7:0"},
		// Two proxies: skip the inner one.
		{"10.0.0.1:5000", []string{"198.51.100.7", "10.0.0.9"}, "198.51.100.7:0"},
		// Not from a proxy: the header is ignored.
		{"203.0.113.5:5000", []string{"198.51.100.7"}, "203.0.113.5:5000"},
		// Garbage where the client should be: the proxy's address stays.
		{"10.0.0.1:5000", []string{"not-an-address"}, "10.0.0.1:5000"},
		{"10.0.0.1:5000", nil, "10.0.0.1:5000"},
		{"10.0.0.1:5000", []string{"10.0.0.2"}, "10.0.0.1:5000"},
		{"10.0.0.1:5000", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: RemoteAddr %q, want %q", tt.peer, tt.xff, seen, tt.want)
		}
	}
}

// header builds a PROXY v2 header for src.
func header(cmd byte, src netip.AddrPort) []byte {
	b := append([]byte{}, signature...)
	fam, size := byte(0x11), 4
	if src.Addr().Is6() {
		fam, size = 0x21, 16
	}
	body := make([]byte, 2*size+4)
	copy(body, src.Addr().AsSlice())
	binary.BigEndian.PutUint16(body[2*size:], src.Port())
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func TestParseHeader(t *testing.T) {
	src := netip.MustParseAddrPort("198.51.100.7:4431")
	if got, err := ParseHeader(header(1, src)); err != nil || got != src {
		t.Errorf("PROXY TCP4 = %v, %v", got, err)
	}
	src6 := netip.MustParseAddrPort("[2001:db8::7]:443")
	if got, err := ParseHeader(header(1, src6)); err != nil || got != src6 {
		t.Errorf("PROXY TCP6 = %v, %v", got, err)
	}
	if got, err := ParseHeader(header(0, src)); err != nil || got.IsValid() {
		t.Errorf("LOCAL = %v, %v; want no address", got, err)
	}
	good := header(1, src)
	for name, h := range map[string][]byte{
		"short":         good[:10],
		"bad signature": append([]byte("GET / HTTP/1.1\r\n"), good[16:]...),
		"version 1":     append(append(append([]byte{}, good[:12]...), 0x11), good[13:]...),
		"command 2":     append(append(append([]byte{}, good[:12]...), 0x22), good[13:]...),
		"truncated":     good[:len(good)-3],
	} {
		if _, err := ParseHeader(h); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestListener: behind a trusted proxy the connection's address is the
// header's; a proxy connection without a header is closed; others pass.
func TestListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := mustProxies(t, "127.0.0.1").Listener(ln)
	dial := func(prefix []byte) (string, string) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(append(prefix, "hello"...))
		s, err := pl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		addr := s.RemoteAddr().String()
		b, _ := io.ReadAll(io.LimitReader(s, 5))
		return addr, string(b)
	}
	if addr, data := dial(header(1, netip.MustParseAddrPort("198.51.100.7:4431"))); addr != "198.51.100.7:4431" || data != "hello" {
		t.Errorf("with a header: %s %q", addr, data)
	}
	if addr, data := dial([]byte(strings.Repeat("x", 16))); data != "" || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("without a header: %s %q, want the connection closed", addr, data)
	}
	other := mustProxies(t, "10.0.0.0/8").Listener(ln)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Write([]byte("plain"))
			c.Close()
		}
	}()
	s, err := other.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(s)
	s.Close()
	if !bytes.Equal(b, []byte("plain")) {
		t.Errorf("from a non-proxy: %q", b)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(header(1, netip.MustParseAddrPort("198.51.100.7:4431")))
	f.Add(header(1, netip.MustParseAddrPort("[2001:db8::7]:443")))
	f.Add(header(0, netip.MustParseAddrPort("198.51.100.7:1")))
	f.Fuzz(func(t *testing.T, h []byte) {
		addr, err := ParseHeader(h)
		if err == nil && addr.IsValid() && addr.Addr().Is4In6() {
			t.Errorf("address %v is not unmapped", addr)
		}
		readHeader(bytes.NewReader(h))
	})
}

func FuzzForwardedFor(f *testing.F) {
	f.Add("198.51.100.7, 10.0.0.2")
	f.Add("1.2.3.4,,::1, fe80::1%eth0")
	ps := Proxies{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("X-Forwarded-For", v)
		if a, ok := ps.forwardedFor(r); ok && (ps.Contains(a) || !a.IsValid() || a.Zone() != "") {
			t.Errorf("X-Forwarded-For %q gave %v", v, a)
		}
	})
}
