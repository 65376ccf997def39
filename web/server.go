// Package web is the owner UI of the issuer: people log in (password or
// passkey), approve devices that pair, see and manage their devices, make
// EAB keys for stock ACME clients, download the root and read the audit
// log. Pages are html/template with an embedded stylesheet; every page works
// without JavaScript, which only passkeys need.
//
// Tenancy: a user acts for one store owner. An owner sees and changes only
// that owner's devices and pairings; an admin sees all. Every handler that
// takes an ID loads the object and checks its owner before anything else,
// and answers 404 for another owner's objects, so their IDs leak nothing.
package web

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the UI needs; New checks it.
type Config struct {
	Store store.Store
	// Zone is the issuer's DNS zone; BaseURL how browsers reach the issuer
	// (https://host:port), Directory its ACME directory URL.
	Zone      string
	BaseURL   string
	Directory string
	// FilesURL is the issuer's plain HTTP base (CRL, root, intermediate);
	// empty means BaseURL.
	FilesURL string
	// Root is the CA's root certificate, offered for download.
	Root *x509.Certificate
	// RPID is the WebAuthn relying party ID: a host name (never an IP
	// address) that browsers reach the issuer by. Empty disables passkeys.
	RPID string
	// Origins are the https origins passkeys may be used from; empty means
	// https://RPID with BaseURL's port.
	Origins []string
	// ShortNames says the signer puts the owner's short names (tv.ZONE)
	// in certificates (ca.NameAdder: the local signer); without it the
	// device page offers none. MDNSNames says it may add tv.local too.
	ShortNames, MDNSNames bool
	// AttestRoots are the roots device-attest-01 statements must chain to
	// (the issuer's --attest-roots), shown on the admin's attestation page.
	AttestRoots []*x509.Certificate
	// Pairing approves and denies device pairings; nil hides the pages.
	Pairing *pairing.Service
	// SetupToken, when set and no user exists, lets one visitor who knows
	// it create the first admin at /setup.
	SetupToken string
	// LoginFailuresPerSource and LoginFailuresPerUser bound failed logins;
	// zero values take DefaultLimits'.
	LoginFailuresPerSource ratelimit.Limit
	LoginFailuresPerUser   ratelimit.Limit
	// MaxDevicesPerOwner bounds the active devices an owner may add
	// (stock ACME clients); 0 means no limit. Pairing has its own.
	MaxDevicesPerOwner int
	// MaxHashing bounds the passwords hashed at once (argon2id, 19 MiB
	// each); 0 means the number of CPUs, at least 2.
	MaxHashing int
	// SessionLifetime is how long a login lasts; 0 means 7 days.
	SessionLifetime time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// DefaultLimits are the login limits of a Config that sets none.
var DefaultLimits = struct{ LoginFailuresPerSource, LoginFailuresPerUser ratelimit.Limit }{
	LoginFailuresPerSource: ratelimit.Limit{Name: "login-failures-per-source", Count: 20, Period: time.Hour},
	LoginFailuresPerUser:   ratelimit.Limit{Name: "login-failures-per-user", Count: 10, Period: time.Hour},
}

// Server serves the UI. Make one with New.
type Server struct {
	cfg       Config
	pages     map[string]*template.Template
	csrfKey   []byte
	webauthn  *webauthn.WebAuthn // nil without an RPID
	setupDone atomic.Bool
	hashSlots chan struct{} // one token per password hash running
	mux       *http.ServeMux
}

// New checks cfg and prepares the templates. The CSRF key is kept in the
// store, so every issuer instance on one store accepts every other's forms.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Zone == "" || cfg.BaseURL == "" || cfg.Root == nil {
		return nil, errors.New("web: Store, Zone, BaseURL and Root are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.FilesURL == "" {
		cfg.FilesURL = cfg.BaseURL
	}
	cfg.FilesURL = strings.TrimSuffix(cfg.FilesURL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 7 * 24 * time.Hour
	}
	if cfg.LoginFailuresPerSource.Name == "" {
		cfg.LoginFailuresPerSource = DefaultLimits.LoginFailuresPerSource
	}
	if cfg.LoginFailuresPerUser.Name == "" {
		cfg.LoginFailuresPerUser = DefaultLimits.LoginFailuresPerUser
	}
	if cfg.MaxHashing <= 0 {
		cfg.MaxHashing = max(2, runtime.NumCPU())
	}
	s := &Server{cfg: cfg, hashSlots: make(chan struct{}, cfg.MaxHashing)}
	key := make([]byte, 32)
	rand.Read(key)
	var err error
	if s.csrfKey, err = cfg.Store.Secret(ctx, "web-csrf-key", key); err != nil {
		return nil, fmt.Errorf("web: csrf key: %w", err)
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if cfg.RPID != "" {
		if s.webauthn, err = newWebAuthn(cfg); err != nil {
			return nil, err
		}
	}
	s.mux = s.routes()
	return s, nil
}

// Handler returns the UI's handler. It answers every path it knows and
// 404 for the rest, so the issuer mounts it under "/" after its own routes.
func (s *Server) Handler() http.Handler { return securityHeaders(s.mux) }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", s.page(s.serveDevices))
	mux.HandleFunc("GET /login", s.serveLogin)
	mux.HandleFunc("POST /login", s.form(s.postLogin))
	mux.HandleFunc("POST /logout", s.form(s.postLogout))
	mux.HandleFunc("GET /setup", s.serveSetup)
	mux.HandleFunc("POST /setup", s.form(s.postSetup))
	mux.HandleFunc("GET /trust", s.serveTrust)
	mux.HandleFunc("GET "+MobileConfigPath, s.serveMobileConfig)

	mux.HandleFunc("GET /devices/new", s.page(s.serveNewDevice))
	mux.HandleFunc("POST /devices/new", s.action(s.postNewDevice))
	mux.HandleFunc("GET /devices/{id}", s.page(s.serveDevice))
	mux.HandleFunc("POST /devices/{id}/rename", s.action(s.postRename))
	mux.HandleFunc("POST /devices/{id}/publish", s.action(s.postPublish))
	mux.HandleFunc("POST /devices/{id}/short-name", s.action(s.postShortName))
	mux.HandleFunc("POST /devices/{id}/revoke-certificates", s.action(s.postRevokeCertificates))
	mux.HandleFunc("POST /devices/{id}/unpair", s.action(s.postUnpair))
	mux.HandleFunc("POST /devices/{id}/grants", s.action(s.postGrants))
	mux.HandleFunc("POST /devices/{id}/remove", s.action(s.postRemove))
	mux.HandleFunc("POST /devices/{id}/eab-key", s.action(s.postNewEABKey))

	mux.HandleFunc("GET /device", s.page(s.serveCodeEntry))
	mux.HandleFunc("POST /device", s.action(s.postCodeEntry))
	mux.HandleFunc("POST /device/approve", s.action(s.postApprove))
	mux.HandleFunc("POST /device/deny", s.action(s.postDeny))

	mux.HandleFunc("GET /audit", s.page(s.serveAudit))
	mux.HandleFunc("GET /attest", s.page(s.serveAttest))
	mux.HandleFunc("POST /attest", s.action(s.postAttest))
	mux.HandleFunc("GET /account", s.page(s.serveAccount))
	mux.HandleFunc("POST /account/password", s.action(s.postPassword))
	mux.HandleFunc("POST /account/passkeys/{id}/delete", s.action(s.postDeletePasskey))
	mux.HandleFunc("POST /account/passkeys/begin", s.action(s.postPasskeyRegisterBegin))
	mux.HandleFunc("POST /account/passkeys/finish", s.action(s.postPasskeyRegisterFinish))
	mux.HandleFunc("POST /login/passkey/begin", s.form(s.postPasskeyLoginBegin))
	mux.HandleFunc("POST /login/passkey/finish", s.form(s.postPasskeyLoginFinish))
	return mux
}

// securityHeaders sets the headers every answer of the UI carries: a CSP
// that allows no inline script and no framing, no referrer, no sniffing.
func securityHeaders(h http.Handler) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// hostIsIP reports whether the request reached the issuer by IP address,
// where passkeys cannot work: a WebAuthn RP ID is a host name.
func hostIsIP(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return net.ParseIP(strings.Trim(host, "[]")) != nil
}

// rpURL is the page r asked for, by the passkey host name, keeping the
// port the request came in on and the path and query (a setup link's
// token survives the move).
func (s *Server) rpURL(r *http.Request) string {
	u := url.URL{Scheme: "https", Host: s.cfg.RPID, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "443" {
		u.Host = net.JoinHostPort(s.cfg.RPID, port)
	}
	return u.String()
}

// rpReachable reports whether r's browser can open the UI by the passkey
// host name: "localhost" means the issuer only to a browser on its own
// machine.
func (s *Server) rpReachable(r *http.Request) bool {
	return s.cfg.RPID != "localhost" || fromLoopback(r)
}
