// Package proxy is the agent's proxy mode: TLS with the agent's
// certificate in front of a device's existing plain-HTTP UI, with CORS for
// the origins its owner granted, and the plain-HTTP redirect beside it.
package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Granter says which web origins the device's owner granted; *agent.Agent
// is one (its OriginGranted follows the owner's policy).
type Granter interface {
	OriginGranted(origin string) bool
}

// New returns a handler that forwards every request to upstream, the
// device's own plain-HTTP UI, for a server that terminates TLS with the
// agent's TLSConfig. It passes WebSocket upgrades through (so wss:// works),
// streams responses of unknown length as they come, sets X-Forwarded-For, -Proto and -Host,
// and answers CORS for the origins owner granted (nil: none) and those in
// allow: preflights, including the
// Access-Control-Allow-Private-Network answer older Chromium asks for, are
// answered by the proxy; a request from any other origin gets no CORS
// headers, whatever upstream says, and a WebSocket upgrade from one is
// refused (403).
func New(upstream *url.URL, allow []string, owner Granter) http.Handler {
	static := make(map[string]bool, len(allow))
	for _, o := range allow {
		static[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.Out.Host = r.In.Host // the device UI sees the name the browser used
			r.SetXForwarded()
		},
		// Without a pool ReverseProxy makes a 32 kB buffer per request,
		// which made the proxy GC-bound under load.
		BufferPool: &bufferPool{},
		// FlushInterval 0: a response of unknown length (a stream, such
		// as text/event-stream) is flushed on every write, others when done.
		// Keep idle connections to the device UI for a busy page's worth
		// of clients (the default keeps 2, and reconnects under load);
		// each costs about 30 kB, so not one per client.
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
		},
		ModifyResponse: func(resp *http.Response) error {
			// The proxy decides CORS; upstream's answer would bypass the
			// owner's grants.
			for k := range resp.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					resp.Header.Del(k)
				}
			}
			return nil
		},
	}
	return &corsHandler{next: rp, granted: func(origin string) bool {
		return static[strings.ToLower(origin)] || (owner != nil && owner.OriginGranted(origin))
	}}
}

// corsHandler answers CORS (Fetch standard, "CORS protocol") for granted
// origins in front of next.
type corsHandler struct {
	next    http.Handler
	granted func(origin string) bool
}

func (h *corsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(origin, r) {
		h.next.ServeHTTP(w, r)
		return
	}
	ok := h.granted(origin)
	w.Header().Add("Vary", "Origin")
	// Browsers apply no CORS to WebSockets (RFC 6455 section 10.2 leaves
	// the Origin check to the server): without this, any page the
	// browser let reach the device could open one.
	if !ok && isWebSocket(r) {
		http.Error(w, "origin not granted by the device's owner", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.preflight(w, r, origin, ok)
		return
	}
	if ok {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
	h.next.ServeHTTP(w, r)
}

// preflight answers an OPTIONS preflight itself: the device's UI need not
// know CORS. A refused preflight is 403 with no CORS headers, which the
// browser reports as a CORS failure.
func (h *corsHandler) preflight(w http.ResponseWriter, r *http.Request, origin string, ok bool) {
	if !ok {
		http.Error(w, "origin not granted by the device's owner", http.StatusForbidden)
		return
	}
	hd := w.Header()
	hd.Add("Vary", "Access-Control-Request-Method")
	hd.Add("Vary", "Access-Control-Request-Headers")
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Credentials", "true")
	hd.Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		hd.Set("Access-Control-Allow-Headers", rh)
	}
	// Private Network Access (Chromium before Local Network Access):
	// a public page asking to reach a private address.
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		hd.Set("Access-Control-Allow-Private-Network", "true")
	}
	hd.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// isWebSocket reports whether r asks to upgrade to a WebSocket.
func isWebSocket(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return true
	}
	// RFC 8441 section 4: over HTTP/2 a WebSocket is an extended CONNECT
	// with :protocol websocket, which Go's server hands on as that header
	// when extended CONNECT is on (GODEBUG http2xconnect=1); the same
	// origin check must hold for it.
	return r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket")
}

// sameOrigin reports whether origin is the origin the request was made to.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host)
}

// RedirectHTTPS returns a handler for the plain-HTTP port that sends every
// request to the same host over HTTPS, on httpsPort unless it is 443.
func RedirectHTTPS(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if httpsPort != "" && httpsPort != "443" {
			host += ":" + httpsPort
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// bufferPool reuses the proxy's copy buffers (httputil.BufferPool).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	// One TLS record's worth: larger buys nothing through TLS, and 100
	// clients at once hold 100 of them.
	return make([]byte, 16<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
