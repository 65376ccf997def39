package badinput

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// rawCase sends bytes on a new connection and checks what comes back.
type rawCase struct {
	name string
	run  func(t *testing.T)
}

// rawHTTP writes req on a TLS connection to addr and returns the status
// line's code, or 0 if the server closed the connection without one.
func rawHTTP(t *testing.T, e *env, addr string, useTLS bool, req string) int {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hostOf(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://") }

func rawCases(e *env) []rawCase {
	iss := hostOf(e.base)
	status := func(name string, addr string, useTLS bool, req string, want int) rawCase {
		return rawCase{name, func(t *testing.T) {
			if got := rawHTTP(t, e, addr, useTLS, req); got != want {
				t.Errorf("status %d, want %d", got, want)
			}
		}}
	}
	return []rawCase{
		status("headers of 2 MiB", iss, true, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n", 431),
		status("a garbage request line", iss, true, "GARBAGE\r\n\r\n", 400),
		status("HTTP/1.1 without Host", iss, true, "GET /healthz HTTP/1.1\r\n\r\n", 400),
		status("a header with a NUL", iss, true, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX: a\x00b\r\n\r\n", 400),
		// RFC 9112 section 6.3: Transfer-Encoding wins over Content-Length
		// (and the connection closes after), so nothing is smuggled.
		status("Content-Length beside chunked", iss, true, "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 404),
		status("plain HTTP headers of 2 MiB", hostOf(e.httpBase), false, "GET /ca/crl HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n", 431),
		status("onboarding headers of 2 MiB", e.onboard, false, "GET / HTTP/1.1\r\nHost: "+e.onboard+"\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n", 431),
		{"slowloris", func(t *testing.T) {
			// Headers that never end: the server hangs up after its
			// ReadHeaderTimeout (10 s), not never.
			c, err := tls.Dial("tcp", iss, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n")
			start := time.Now()
			c.SetReadDeadline(start.Add(30 * time.Second))
			buf := make([]byte, 1)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Errorf("connection still open after %s", time.Since(start).Round(time.Second))
					}
					return
				}
			}
		}},
		{"TLS 1.2 with CBC suites only", func(t *testing.T) {
			c, err := tls.Dial("tcp", iss, &tls.Config{RootCAs: e.roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}})
			if err == nil {
				c.Close()
				t.Error("handshake with only CBC suites succeeded")
			}
		}},
		{"TLS 1.1", func(t *testing.T) {
			c, err := tls.Dial("tcp", iss, &tls.Config{RootCAs: e.roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
			if err == nil {
				c.Close()
				t.Error("TLS 1.1 handshake succeeded")
			}
		}},
	}
}

// dnsExchange sends a raw message over UDP and returns the answer, or nil
// if none came within a second.
func dnsExchange(t *testing.T, addr string, msg []byte) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(msg)
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	if n > 1232 && len(msg) > 0 {
		t.Errorf("answer of %d bytes over UDP", n)
	}
	return m
}

func dnsCases(e *env) []rawCase {
	query := func(name string, qtype uint16, edns uint16) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edns > 0 {
			m.SetEdns0(edns, false)
		}
		b, _ := m.Pack()
		return b
	}
	rcode := func(name string, msg []byte, want int) rawCase {
		return rawCase{name, func(t *testing.T) {
			m := dnsExchange(t, e.dnsAddr, msg)
			if want < 0 {
				if m != nil {
					t.Errorf("answered %s, want no answer", dns.RcodeToString[m.Rcode])
				}
				return
			}
			if m == nil || m.Rcode != want {
				t.Errorf("answer %v, want rcode %s", m, dns.RcodeToString[want])
			}
		}}
	}
	small := func(name string, msg []byte) rawCase {
		return rawCase{name, func(t *testing.T) {
			m := dnsExchange(t, e.dnsAddr, msg)
			if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) > 1 {
				t.Errorf("answer %v, want NOERROR with at most one record", m)
			}
		}}
	}
	// A name whose first label is a pointer to itself.
	loop := query("a."+zone+".", dns.TypeA, 0)
	loop = append(loop[:12], 0xc0, 12, 0, 1, 0, 1)
	dev := e.dev.Label + "." + zone + "."
	return []rawCase{
		rcode("compression loop", loop, dns.RcodeFormatError),
		rcode("three bytes", []byte{1, 2, 3}, -1),
		rcode("an answer, not a query", func() []byte {
			m := new(dns.Msg)
			m.SetQuestion(dev, dns.TypeA)
			m.Response = true
			b, _ := m.Pack()
			return b
		}(), -1),
		rcode("EDNS of 65535 bytes", query("192-168-1-20."+dev, dns.TypeA, 65535), dns.RcodeSuccess),
		rcode("a public address-name", query("8-8-8-8."+dev, dns.TypeA, 0), dns.RcodeNameError),
		rcode("a name out of zone", query("example.com.", dns.TypeA, 0), dns.RcodeRefused),
		rcode("127 labels", query(strings.Repeat("a.", 120)+zone+".", dns.TypeA, 0), dns.RcodeNameError),
		rcode("an unknown device", query("192-168-1-20.aaaaaaaaaaaaaaaaaaaaaaaaaa."+zone+".", dns.TypeA, 0), dns.RcodeNameError),
		// No zone transfer and no ANY amplification: at most the SOA.
		small("AXFR over UDP", query(zone+".", dns.TypeAXFR, 0)),
		small("ANY for the zone", query(zone+".", dns.TypeANY, 0)),
		small("ANY for a device", query(dev, dns.TypeANY, 4096)),
	}
}

// agentCases are hostile requests to the agent's onboarding page, which
// shows the pending code only to the device's own names and addresses.
func agentCases(e *env) []tcase {
	get := func(path, host string, method string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			return e.request(t, method, "http://"+e.onboard+path, nil, "Host", host)
		}
	}
	return []tcase{
		{"onboarding by a foreign name", get("/", "evil.example", "GET"), want{status: 421}},
		{"onboarding by DNS rebinding", get("/", "attacker.example:"+portOf(e.onboard), "GET"), want{status: 421}},
		{"onboarding by another address", get("/", "192.0.2.1", "GET"), want{status: 421}},
		{"onboarding by its own address", get("/", e.onboard, "GET"), want{status: 200, body: e.userCode}},
		// The page is read-only: any method and path get it, and no file.
		{"onboarding POST", get("/", e.onboard, "POST"), want{status: 200, body: e.userCode}},
		{"onboarding path traversal", get("/..%2f..%2fetc%2fpasswd", e.onboard, "GET"), want{status: 200, body: e.userCode}},
		{"onboarding a foreign name, QR path", get("/qr.png", "evil.example", "GET"), want{status: 421}},
	}
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// loginBurst sends 30 concurrent wrong passwords for one name, from one
// client behind the trusted proxy: the per-name limit lets 10 be checked
// (each takes its place before hashing), the rest are refused unhashed.
func loginBurst(e *env) rawCase {
	return rawCase{"30 concurrent wrong passwords", func(t *testing.T) {
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		for range 30 {
			b := newBrowser(t, e)
			b.get(t, "/login").Body.Close()
			wg.Go(func() {
				v := url.Values{"name": {"mallory"}, "password": {"wrong password"}, "csrf": {b.csrf}}
				req, _ := http.NewRequest("POST", b.base+"/login", strings.NewReader(v.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", "203.0.113.50")
				resp, err := b.c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body := string(readAll(resp.Body))
				resp.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case strings.Contains(body, "Wrong user name or password"):
					counts["checked"]++
				case strings.Contains(body, "Too many failed logins"):
					counts["limited"]++
				default:
					counts[resp.Status]++
				}
			})
		}
		wg.Wait()
		if counts["checked"] != 10 || counts["limited"] != 20 {
			t.Errorf("answers %v, want 10 checked and 20 limited", counts)
		}
	}}
}
