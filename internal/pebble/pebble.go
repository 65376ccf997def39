// Package pebble runs Let's Encrypt's test CA, Pebble
// (github.com/letsencrypt/pebble/v2), in-process: the upstream public CA of
// the upstream signer's tests and of `lantls demo --upstream`. Its
// validation authority asks the DNS server given, so dns-01 challenges are
// really validated against the issuer's zone.
//
// A Server can also misbehave on purpose, as a real CA sometimes does: be
// unreachable (SetDown) or answer new orders with rateLimited (SetRateLimited).
// Keep concurrency low: Pebble v2.10.1 deadlocks under concurrent load.
package pebble

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	pca "github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Options configure Start.
type Options struct {
	// DNSServer is the host:port Pebble's validation authority resolves
	// with (over TCP, as Pebble does); it must serve the issuer's zone.
	DNSServer string
	// Listen is the address to serve on; empty means 127.0.0.1:0.
	Listen string
	// Validity is the certificate lifetime; 0 means Pebble's 90 days.
	Validity time.Duration
	// Log receives Pebble's log; nil discards it.
	Log io.Writer
}

// Server is a running Pebble.
type Server struct {
	srv  *httptest.Server
	ca   *pca.CAImpl
	db   *db.MemoryStore
	mu   sync.Mutex
	down bool
	// rateLimited, when positive, is the Retry-After of the rateLimited
	// answer every newOrder gets.
	rateLimited time.Duration
	csrs        []*x509.CertificateRequest
	// hold, while not nil, keeps finalize requests waiting until it is
	// closed; finalizes counts the finalize requests that arrived.
	hold      chan struct{}
	finalizes int
}

// Pebble's paths that the misbehaviours look at (wfe keeps them
// unexported).
const (
	newOrderPath      = "/order-plz"
	orderFinalizePath = "/finalize-order/"
)

// envOnce sets the environment Pebble reads when its parts are made: no
// random validation sleeps, no nonces rejected on purpose, no reused
// authorizations (so each order is really validated).
var envOnce sync.Once

// Start starts Pebble. Stop it with Close.
func Start(opts Options) (*Server, error) {
	if opts.DNSServer == "" {
		return nil, errors.New("pebble: no DNS server to validate against")
	}
	envOnce.Do(func() {
		os.Setenv("PEBBLE_VA_NOSLEEP", "1")
		os.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
		os.Setenv("PEBBLE_AUTHZREUSE", "0")
	})
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	logger := log.New(opts.Log, "pebble ", log.LstdFlags)
	validity := uint64(opts.Validity / time.Second)
	profiles := map[string]pca.Profile{
		"default":    {Description: "The default profile", ValidityPeriod: validity},
		"shortlived": {Description: "A short-lived certificate", ValidityPeriod: 160 * 3600},
	}
	store := db.NewMemoryStore()
	authority := pca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, 0, 0, false, opts.DNSServer, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	s := &Server{ca: authority, db: store}
	s.srv = httptest.NewUnstartedServer(s.wrap(front.Handler()))
	if opts.Listen != "" {
		ln, err := net.Listen("tcp", opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("pebble: listen: %w", err)
		}
		s.srv.Listener.Close()
		s.srv.Listener = ln
	}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	return s, nil
}

// FreeDNSAddr returns a loopback address whose port is free for both TCP
// and UDP now: Pebble must know the DNS server's address before the issuer
// that serves it starts.
func FreeDNSAddr() (string, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr, nil
		}
	}
	return "", errors.New("pebble: no loopback port free for both TCP and UDP")
}

// Directory is the ACME directory URL.
func (s *Server) Directory() string { return s.srv.URL + wfe.DirectoryPath }

// TLSRoots verify Pebble's own HTTPS certificate.
func (s *Server) TLSRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// TLSRootPEM is the certificate of Pebble's own HTTPS in PEM.
func (s *Server) TLSRootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Root is the root of the certificates Pebble issues.
func (s *Server) Root() *x509.Certificate { return s.ca.GetRootCert(0).Cert }

// RootPEM is Root in PEM.
func (s *Server) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Root().Raw})
}

// Close stops Pebble.
func (s *Server) Close() { s.srv.Close() }

// SetDown makes Pebble unreachable (every request fails at the
// connection) or reachable again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
	if down {
		s.srv.CloseClientConnections()
	}
}

// SetRateLimited makes every newOrder answer rateLimited with Retry-After
// retry (a positive duration), or not (0).
func (s *Server) SetRateLimited(retry time.Duration) {
	s.mu.Lock()
	s.rateLimited = retry
	s.mu.Unlock()
}

// CSRs returns every CSR that reached Pebble's finalize, in order.
func (s *Server) CSRs() []*x509.CertificateRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*x509.CertificateRequest(nil), s.csrs...)
}

// HoldFinalize makes finalize requests wait (hold) until it is called
// again with false; then the waiting ones go on to Pebble.
func (s *Server) HoldFinalize(hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case hold && s.hold == nil:
		s.hold = make(chan struct{})
	case !hold && s.hold != nil:
		close(s.hold)
		s.hold = nil
	}
}

// Finalizes counts the finalize requests that reached Pebble's front.
func (s *Server) Finalizes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finalizes
}

// Revoked reports whether Pebble has revoked the certificate with serial.
func (s *Server) Revoked(serial *big.Int) bool {
	return s.db.GetRevokedCertificateBySerial(serial) != nil
}

// SetRenewalWindow makes Pebble's ARI answer the window start..end for
// the certificate with serial (RFC 9773), e.g. to ask for a renewal now.
func (s *Server) SetRenewalWindow(serial *big.Int, start, end time.Time) error {
	b, err := json.Marshal(map[string]any{"suggestedWindow": map[string]time.Time{"start": start.UTC(), "end": end.UTC()}})
	if err != nil {
		return err
	}
	return s.db.SetARIResponse(serial, string(b))
}

// wrap puts the misbehaviours and the CSR record in front of Pebble.
func (s *Server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down, limited := s.down, s.rateLimited
		s.mu.Unlock()
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == newOrderPath && limited > 0 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", strconv.Itoa(int(limited/time.Second)))
			w.WriteHeader(http.StatusTooManyRequests)
			json.NewEncoder(w).Encode(map[string]any{
				"type":   "urn:ietf:params:acme:error:rateLimited",
				"detail": "too many new orders recently",
				"status": http.StatusTooManyRequests,
			})
			return
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, orderFinalizePath) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			s.mu.Lock()
			if csr := finalizeCSR(body); csr != nil {
				s.csrs = append(s.csrs, csr)
			}
			s.finalizes++
			hold := s.hold
			s.mu.Unlock()
			if hold != nil {
				<-hold
			}
		}
		h.ServeHTTP(w, r)
	})
}

// finalizeCSR reads the CSR out of a finalize request's JWS.
func finalizeCSR(body []byte) *x509.CertificateRequest {
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return nil
	}
	var p struct {
		CSR string `json:"csr"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return nil
	}
	der, err := base64.RawURLEncoding.DecodeString(p.CSR)
	if err != nil {
		return nil
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil
	}
	return csr
}
