package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// http01 answers http-01 challenges (RFC 8555 section 8.3) for every
// simulated device from one listener, started the first time a challenge
// is pending, so that runs against servers that never ask need no port.
type http01 struct {
	addr   string
	once   sync.Once
	err    error
	ln     net.Listener
	srv    *http.Server
	tokens sync.Map // token -> key authorization
}

const http01Prefix = "/.well-known/acme-challenge/"

func newHTTP01(addr string) *http01 { return &http01{addr: addr} }

// set publishes the key authorization for token, starting the listener if
// needed.
func (h *http01) set(token, keyAuth string) error {
	h.once.Do(h.start)
	if h.err != nil {
		return h.err
	}
	h.tokens.Store(token, keyAuth)
	return nil
}

func (h *http01) remove(token string) { h.tokens.Delete(token) }

func (h *http01) start() {
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.err = fmt.Errorf("answer http-01 on %s: %w (port 80 needs root or CAP_NET_BIND_SERVICE)", h.addr, err)
		return
	}
	h.ln = ln
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(ln)
}

func (h *http01) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, http01Prefix)
	v, found := h.tokens.Load(token)
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write([]byte(v.(string)))
}

// close stops the listener if it was started.
func (h *http01) close() {
	if h.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h.srv.Shutdown(ctx)
}
