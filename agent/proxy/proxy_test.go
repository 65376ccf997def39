package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/agent/internal/agenttest"
)

// granter grants the origins in it, standing for the owner's policy.
type granter map[string]bool

func (g granter) OriginGranted(origin string) bool { return g[strings.ToLower(origin)] }

// upstreamUI is the device's plain-HTTP UI: it echoes request headers,
// streams on /stream, echoes bytes after a WebSocket-style upgrade on /ws,
// and sets its own CORS header, which the proxy must not pass.
func upstreamUI(t *testing.T, release <-chan struct{}) *url.URL {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		fmt.Fprintf(w, "host=%s xff=%s proto=%s xhost=%s", r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "second\n")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// serveProxy serves a's proxy with TLS on 127.0.0.1 and returns its address.
func serveProxy(t *testing.T, a *agent.Agent, up *url.URL, allow []string, owner Granter) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", a.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(up, allow, owner)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// deviceClient trusts only the issuer's root and dials addr for any name.
func deviceClient(p *agenttest.Device, addr string, h2 bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.Roots},
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

func TestProxy(t *testing.T) {
	t.Parallel()
	p := agenttest.Paired(t)
	a := p.Agent
	release := make(chan struct{})
	up := upstreamUI(t, release)
	addr := serveProxy(t, a, up, []string{"https://static.example"}, granter{"https://app.vendor.example": true})
	label, zone := a.Identity()
	host := "192-168-1-20." + label + "." + zone
	base := "https://" + host

	t.Run("h2 and forwarded headers", func(t *testing.T) {
		resp, err := deviceClient(p, addr, true).Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2", resp.Proto)
		}
		want := "host=" + host + " xff=127.0.0.1 proto=https xhost=" + host
		if string(body) != want {
			t.Errorf("upstream saw %q, want %q", body, want)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Error("upstream's own CORS header passed through")
		}
	})

	t.Run("TLS 1.2", func(t *testing.T) {
		c := deviceClient(p, addr, false)
		c.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
		resp, err := c.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.TLS.Version != tls.VersionTLS12 {
			t.Errorf("TLS version %x", resp.TLS.Version)
		}
	})

	t.Run("streaming", func(t *testing.T) {
		resp, err := deviceClient(p, addr, true).Get(base + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		if err != nil || line != "first\n" {
			t.Fatalf("first chunk %q, %v: the proxy buffered the stream", line, err)
		}
		close(release)
		if line, _ := r.ReadString('\n'); line != "second\n" {
			t.Errorf("second chunk %q", line)
		}
	})

	websockets := []struct {
		name, origin string
		wantStatus   int
	}{
		{"no origin", "", http.StatusSwitchingProtocols},
		{"same origin", base, http.StatusSwitchingProtocols},
		{"granted origin", "https://app.vendor.example", http.StatusSwitchingProtocols},
		{"origin not granted", "https://evil.example", http.StatusForbidden},
	}
	for _, tc := range websockets {
		t.Run("websocket "+tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.Roots, ServerName: host, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			origin := ""
			if tc.origin != "" {
				origin = "Origin: " + tc.origin + "\r\n"
			}
			fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\n%sUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", host, origin)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("upgrade answered %s, want %d", resp.Status, tc.wantStatus)
			}
			if tc.wantStatus != http.StatusSwitchingProtocols {
				return
			}
			fmt.Fprint(conn, "ping\n")
			if line, _ := br.ReadString('\n'); line != "ping\n" {
				t.Errorf("echo %q", line)
			}
		})
	}

	cors := []struct {
		name, origin, method string
		pna                  bool
		wantACAO             string
		wantStatus           int
	}{
		{"granted by owner", "https://app.vendor.example", "GET", false, "https://app.vendor.example", 200},
		{"granted by flag", "https://static.example", "GET", false, "https://static.example", 200},
		{"not granted", "https://evil.example", "GET", false, "", 200},
		{"preflight granted with PNA", "https://app.vendor.example", "OPTIONS", true, "https://app.vendor.example", 204},
		{"preflight refused", "https://evil.example", "OPTIONS", true, "", 403},
	}
	for _, tc := range cors {
		t.Run("CORS "+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+"/", nil)
			req.Header.Set("Origin", tc.origin)
			if tc.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "PUT")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
				if tc.pna {
					req.Header.Set("Access-Control-Request-Private-Network", "true")
				}
			}
			resp, err := deviceClient(p, addr, true).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantACAO)
			}
			if tc.method == "OPTIONS" && tc.wantACAO != "" {
				if resp.Header.Get("Access-Control-Allow-Private-Network") != "true" || resp.Header.Get("Access-Control-Allow-Methods") != "PUT" {
					t.Errorf("preflight headers %v", resp.Header)
				}
			}
		})
	}

}

func TestRedirectHTTPS(t *testing.T) {
	for _, tc := range []struct{ host, port, want string }{
		{"192-168-1-20.l.lan.test", "443", "https://192-168-1-20.l.lan.test/x?y=1"},
		{"192.168.1.20:80", "8443", "https://192.168.1.20:8443/x?y=1"},
		{"[fd00::1]:80", "", "https://[fd00::1]/x?y=1"},
	} {
		r := httptest.NewRequest("GET", "http://"+tc.host+"/x?y=1", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		RedirectHTTPS(tc.port).ServeHTTP(w, r)
		if got := w.Header().Get("Location"); got != tc.want || w.Code != 301 {
			t.Errorf("%s: %d %q, want %q", tc.host, w.Code, got, tc.want)
		}
	}
}

// TestExtendedConnectOrigin checks the origin check of WebSockets also
// holds for RFC 8441's extended CONNECT (HTTP/2), as Go's server hands it
// on when extended CONNECT is on: a request from an origin not granted is
// refused before it reaches the device.
func TestExtendedConnectOrigin(t *testing.T) {
	reached := false
	ui := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	defer ui.Close()
	u, _ := url.Parse(ui.URL)
	h := New(u, []string{"https://app.vendor.example"}, nil)
	for _, tc := range []struct {
		origin  string
		refused bool
	}{{"https://evil.example", true}, {"https://app.vendor.example", false}} {
		reached = false
		r := httptest.NewRequest(http.MethodConnect, "https://device.example/ws", nil)
		r.Header.Set(":protocol", "websocket")
		r.Header.Set("Origin", tc.origin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		// A granted one passes the check (what the device then makes
		// of a CONNECT is its own matter).
		if refused := w.Code == http.StatusForbidden; refused != tc.refused || tc.refused && reached {
			t.Errorf("extended CONNECT from %s: %d, reached the device %v; want refused %v", tc.origin, w.Code, reached, tc.refused)
		}
	}
}
