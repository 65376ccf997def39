// Package deviceserver serves the device API: what a paired device (the
// agent) calls with its bearer token once pairing is done, to read its
// policy, rotate its token, report its addresses and report its status.
// The paths and bodies are package deviceapi's, which the agent imports;
// the handlers, the bearer token (made here, handed out by pairing) and
// the per-device write limit are here. The issuer mounts Routes.
package deviceserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/lantls/lantls/deviceapi"
	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// Config configures a Server. Zero fields have the defaults written
// beside them.
type Config struct {
	Store store.Store
	Zone  string // the issuer's DNS zone, as normalized by names.Normalize
	// Limits: DeviceWritesPerDevice bounds a device's address reports
	// that change something, status reports and token rotations.
	Limits ratelimit.Limits
	// AddsName says which of the owner's names for a device (short names)
	// the signer puts in certificates (ca.NameAdder), for the policy's
	// Names; nil means none (the upstream signer).
	AddsName func(name string) bool
	// Allow are the ranges reported addresses must fall in; nil means
	// dnsserver.DefaultAllow. The issuer passes its DNS server's.
	Allow []netip.Prefix
	// AddressesChanged is called after a report changed a device's
	// addresses and before the answer is sent, so that the DNS shows
	// them when the device hears back; an error is logged, not answered.
	// nil means nothing to call.
	AddressesChanged func(ctx context.Context) error
	Logger           *slog.Logger // nil discards
	Now              func() time.Time
}

// Server serves the device API. Make one with New.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("device API: no store")
	}
	if cfg.Zone == "" {
		return nil, errors.New("device API: no zone")
	}
	if cfg.Allow == nil {
		cfg.Allow = dnsserver.DefaultAllow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log}, nil
}

// Routes calls handle with each route of the device API: a method and
// path pattern for http.ServeMux, and its handler. The issuer mounts them
// beside its other routes, each under its own metrics label.
func (s *Server) Routes(handle func(pattern string, h http.Handler)) {
	handle("GET "+deviceapi.PathPolicy, s.device(s.servePolicy))
	handle("POST "+deviceapi.PathToken, s.device(s.serveToken))
	handle("PUT "+deviceapi.PathAddresses, s.device(s.serveAddresses))
	handle("PUT "+deviceapi.PathStatus, s.device(s.serveStatus))
}

// Handler returns the device API's routes on a mux of their own.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Routes(mux.Handle)
	return mux
}
