package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// pairingServer stands in for the issuer's pairing endpoints and device API
// (RFC 8628 and the lantls extension as issues 19 and 20 name them) on a
// pipeNet, for tests in a synctest bubble; the agents of newAgent reach
// it. There is no issuer behind it: an approval hands out credentials that
// no ACME server knows.
type pairingServer struct {
	t         *testing.T
	net       *pipeNet
	srv       *httptest.Server
	base      string // the URL the agent is given
	directory string
	zone      string
	mu        sync.Mutex
	answers   []string // scripted token errors, used up before the approval
	started   int      // device_authorization requests
	polls     []time.Time
	decided   string // "", "approved" or "denied"
	creds     *devices.Credentials
	addrs     [][]string
	origins   []string
	etag      int
	cond      *sync.Cond
}

func newPairingServer(t *testing.T) *pairingServer {
	t.Helper()
	p := &pairingServer{t: t, net: newPipeNet(), zone: "lan.test"}
	p.cond = sync.NewCond(&p.mu)
	p.srv = httptest.NewUnstartedServer(p.handler())
	p.srv.Listener.Close()
	p.srv.Listener = p.net
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	p.base = p.net.url()
	p.directory = p.base + "/acme/directory"
	return p
}

func (p *pairingServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pair/device_authorization", p.deviceAuthorization)
	mux.HandleFunc("POST /pair/token", p.token)
	mux.HandleFunc("PUT /api/v1/device/addresses", p.addresses)
	mux.HandleFunc("GET /api/v1/device/policy", p.policy)
	return mux
}

func (p *pairingServer) config(s Storage) Config {
	return Config{Issuer: p.base, Storage: s, Model: "test", RetryBase: 50 * time.Millisecond, Logger: quiet,
		Addresses: func() ([]netip.Addr, error) { return testAddrs(), nil }}
}

// newAgent is New(cfg), connected to p's pipeNet.
func (p *pairingServer) newAgent(cfg Config) *Agent {
	p.t.Helper()
	a, err := New(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.net.connect(a)
	return a
}

func (p *pairingServer) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("client_id") == "" || !strings.Contains(r.FormValue("public_key"), `"crv":"P-256"`) {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.started++
	p.mu.Unlock()
	writeTestJSON(w, 200, map[string]any{
		"device_code": "dc", "user_code": "WDJB-MJHT", "verification_uri": p.base + "/device",
		"verification_uri_complete": p.base + "/device?code=WDJBMJHT", "expires_in": 600, "interval": 1,
	})
}

func (p *pairingServer) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls = append(p.polls, time.Now())
	p.cond.Broadcast()
	if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || r.FormValue("device_code") != "dc" {
		writeTestJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	}
	if len(p.answers) > 0 {
		a := p.answers[0]
		p.answers = p.answers[1:]
		writeTestJSON(w, 400, map[string]string{"error": a})
		return
	}
	switch p.decided {
	case "":
		writeTestJSON(w, 400, map[string]string{"error": "authorization_pending"})
	case "denied":
		writeTestJSON(w, 400, map[string]string{"error": "access_denied"})
	default:
		writeTestJSON(w, 200, map[string]any{"access_token": "token-" + p.creds.Device.Label, "token_type": "Bearer",
			"lantls": map[string]any{"directory": p.directory, "eab_kid": p.creds.KID, "eab_hmac_key": p.creds.HMACKey,
				"label": p.creds.Device.Label, "zone": p.zone, "names": p.creds.Names}})
	}
}

func (p *pairingServer) authorized(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.creds != nil && r.Header.Get("Authorization") == "Bearer token-"+p.creds.Device.Label
}

func (p *pairingServer) addresses(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var body struct{ Addresses []string }
	json.NewDecoder(r.Body).Decode(&body)
	p.mu.Lock()
	p.addrs = append(p.addrs, body.Addresses)
	p.cond.Broadcast()
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (p *pairingServer) policy(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(r) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	etag := fmt.Sprintf(`"%d"`, p.etag)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "max-age=5")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeTestJSON(w, 200, map[string]any{"origins": p.origins})
}

// approve lets the next poll succeed.
func (p *pairingServer) approve() {
	p.t.Helper()
	creds := &devices.Credentials{Device: &store.Device{Label: "pipelabel"}, Names: []string{"pipelabel." + p.zone}, KID: "kid", HMACKey: "key"}
	p.mu.Lock()
	p.creds, p.decided = creds, "approved"
	p.mu.Unlock()
}

// waitFor waits until cond holds under p.mu, or fails after 20 s.
func (p *pairingServer) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.AfterFunc(20*time.Second, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer deadline.Stop()
	start := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !cond() {
		if time.Since(start) > 20*time.Second {
			p.t.Fatalf("timed out waiting for %s", what)
		}
		p.cond.Wait()
	}
}

func writeTestJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
