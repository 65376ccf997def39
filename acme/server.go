// Package acme is the RFC 8555 front end of the issuer: it checks every JWS,
// nonce and url, turns typed errors into problem documents, and drives the
// account, order, authorization and certificate state held in a
// store.Store. It holds no SQL and does no signing: the store keeps state
// and a ca.Signer signs.
//
// Accounts are bound to paired devices through external account binding;
// a device's names (L.Z and below) are authorized by that binding, so
// authorizations are created valid and orders start ready.
package acme

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// Config is what the issuer hands to New.
type Config struct {
	// Store holds all ACME state; instances sharing a store share it all.
	Store store.Store
	// Signer turns checked requests into certificate chains.
	Signer ca.Signer
	// Zone is the issuer's DNS zone, e.g. "lan.test".
	Zone string
	// BaseURL is the issuer's external URL, e.g. "https://127.0.0.1:8443";
	// ACME URLs are BaseURL+"/acme/...".
	BaseURL string
	// IssuerCert is the certificate that signs leaves: its SubjectKeyId is
	// the key identifier in ARI certIDs.
	IssuerCert *x509.Certificate
	// Issuers, when set, lists the certificates that have signed this
	// server's leaves, the one signing now first: after a local CA's
	// intermediate was rotated, the previous ones follow, so that their
	// certificates still count as this server's (ARI, replaces,
	// revocation). It is called per request; nil means IssuerCert alone.
	Issuers func() []*x509.Certificate
	// Profiles are the offered certificate profiles; nil means ca.Profiles.
	Profiles map[string]ca.Profile
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
	// Registerer receives the package's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Limits are the rate limits to enforce; the zero value enforces none.
	Limits ratelimit.Limits
	// Keys says which account and certificate keys are acceptable; the
	// zero value is keypolicy.Default. The signer should get the same.
	Keys keypolicy.Policy
	// LocalNonces tracks spent nonces in this process instead of the
	// store: no store write per request, but only for a server that is the
	// only one serving its store (nonces of other instances, and of this
	// one before a restart, are badNonce).
	LocalNonces bool
	// FinalizeWait is how long finalize waits for a signer that signs in
	// the background (ca.Queued) before it answers processing; 0 means 5s.
	FinalizeWait time.Duration
	// Attestation verifies device-attest-01 statements against the
	// configured roots; nil means the issuer has none, so devices without
	// an attestation rule are not offered the challenge and devices whose
	// model requires it cannot get certificates.
	Attestation *attest.Verifier
}

// Server serves the ACME API. Create it with New.
type Server struct {
	store    store.Store
	signer   ca.Signer
	zone     string
	base     string
	issuers  func() []*x509.Certificate
	profiles map[string]ca.Profile
	log      *slog.Logger
	now      func() time.Time
	nonces   nonceSource
	keys     keyCache
	metrics  *metrics
	policy   authzPolicy
	handler  http.Handler
	pageSize int // orders per page of an account's order list
	limits   ratelimit.Limits
	keyRules keypolicy.Policy
	attest   *attest.Verifier
	// finalizeWait bounds how long finalize waits for a queued signer.
	finalizeWait time.Duration
}

// MaxProcessing is the longest a metered signer may keep an order
// processing: finalize cancels its signing after that. Where several
// instances share a store, a live one fails an order processing for
// longer, which a crashed instance left behind.
const MaxProcessing = 10 * time.Minute

// Resource lifetimes and limits.
const (
	orderLifetime      = 24 * time.Hour
	maxIdentifiers     = 100
	maxBodyBytes       = 64 << 10
	ordersPerPage      = 100
	renewalRetryAfter  = 6 * time.Hour
	processingRetry    = time.Second
	nonceSecretName    = "acme-nonce-key"
	defaultSweepPeriod = time.Minute
	// defaultFinalizeWait keeps a finalize well inside clients' timeouts
	// (certbot's is 45 s) while a quick upstream CA answers within it.
	defaultFinalizeWait = 5 * time.Second
)

// New checks cfg, loads the nonce key from the store (creating it on first
// start) and registers the metrics.
func New(ctx context.Context, cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("acme: config has no store")
	case cfg.Signer == nil:
		return nil, errors.New("acme: config has no signer")
	case cfg.Zone == "":
		return nil, errors.New("acme: config has no zone")
	case cfg.IssuerCert == nil || len(cfg.IssuerCert.SubjectKeyId) == 0:
		return nil, errors.New("acme: config has no issuer certificate with a subject key ID")
	}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
		return nil, fmt.Errorf("acme: base URL %q must be scheme://host[:port]", cfg.BaseURL)
	}
	s := &Server{
		store:    cfg.Store,
		signer:   cfg.Signer,
		zone:     strings.ToLower(strings.TrimSuffix(cfg.Zone, ".")),
		base:     base,
		issuers:  cfg.Issuers,
		profiles: cfg.Profiles,
		log:      cfg.Logger,
		now:      cfg.Now,
		pageSize: ordersPerPage,
		limits:   cfg.Limits,
		keyRules: cfg.Keys,
		policy:   pairingPolicy,
		attest:   cfg.Attestation,

		finalizeWait: cfg.FinalizeWait,
	}
	if s.issuers == nil {
		issuer := cfg.IssuerCert
		s.issuers = func() []*x509.Certificate { return []*x509.Certificate{issuer} }
	}
	if s.finalizeWait <= 0 {
		s.finalizeWait = defaultFinalizeWait
	}
	if s.profiles == nil {
		s.profiles = ca.Profiles
	}
	if _, ok := s.profiles[ca.DefaultProfile]; !ok {
		return nil, fmt.Errorf("acme: profiles lack the default profile %q", ca.DefaultProfile)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	key, err := cfg.Store.Secret(ctx, nonceSecretName, fresh)
	if err != nil {
		return nil, fmt.Errorf("acme: load nonce key: %w", err)
	}
	if cfg.LocalNonces {
		s.nonces = newLocalNonces(key, localNonceWindow)
	} else {
		s.nonces = newStoreNonces(key, s.store)
	}
	if s.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, fmt.Errorf("acme: register metrics: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the handler for every path under /acme/; mount it at
// "/acme/" without stripping the prefix.
func (s *Server) Handler() http.Handler { return s.handler }

// Sweep makes expired pending and ready orders invalid and forgets expired
// nonces, once. Reads already show expired orders as invalid; Sweep makes it
// durable and keeps the nonce table small.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	n, err := s.store.Sweep(ctx, s.clock())
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}

// RunSweeper calls Sweep every interval (a minute if interval <= 0) until ctx
// is done. The issuer runs it in its own goroutine.
func (s *Server) RunSweeper(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = defaultSweepPeriod
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("acme sweep failed", "err", err)
		case n > 0:
			s.log.Debug("acme sweep", "rows", n)
		}
	}
}

// clock returns the current time in UTC, truncated as the store keeps it.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// URLs of the resources, all absolute.

func (s *Server) url(path string) string       { return s.base + "/acme/" + path }
func (s *Server) accountURL(id string) string  { return s.url("account/" + id) }
func (s *Server) ordersURL(id string) string   { return s.url("account/" + id + "/orders") }
func (s *Server) orderURL(id string) string    { return s.url("order/" + id) }
func (s *Server) finalizeURL(id string) string { return s.url("order/" + id + "/finalize") }
func (s *Server) authzURL(id string) string    { return s.url("authz/" + id) }
func (s *Server) certURL(serial string) string { return s.url("cert/" + serial) }
func (s *Server) challengeURL(authzID, typ string) string {
	return s.url("chall/" + authzID + "/" + typ)
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return b64(b)
}
