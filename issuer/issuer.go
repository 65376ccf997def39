// Package issuer wires the store, the signer, the ACME front end, pairing,
// the device API (deviceapi/deviceserver), the DNS server, the owner UI
// and the CA's public files into one HTTPS server, and the CA files into a
// plain HTTP one, with Run(ctx).
package issuer

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/attest"
	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/ca/upstream"
	"github.com/lantls/lantls/deviceapi/deviceserver"
	"github.com/lantls/lantls/dnsserver"
	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/internal/clientaddr"
	"github.com/lantls/lantls/internal/tlsprofile"
	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/web"
)

// Config is everything an issuer needs; Defaults fills the gaps.
type Config struct {
	DataDir   string   // holds lantls.db, ca/ and issuer.json
	Zone      string   // the DNS zone device names live in
	Listen    string   // host:port of the HTTPS listener; port 0 picks one
	Hostnames []string // names in the issuer's own certificate, besides the listen IP
	// BaseURL is how clients reach the issuer; empty means https://LISTEN.
	BaseURL string
	// HTTPListen is host:port of the plain HTTP listener that serves the
	// CRL, the intermediate and the root, and redirects every other path
	// to BaseURL; port 0 picks one. Empty means no plain HTTP listener.
	HTTPListen string
	// HTTPBaseURL is how CRL and AIA fetchers reach the plain HTTP
	// listener, baked into new certificates as their CRL distribution
	// point and AIA caIssuers URLs (RFC 5280 sections 4.2.1.13 and
	// 4.2.2.1 recommend http://). Empty means http://HTTPLISTEN, or
	// BaseURL when there is no plain HTTP listener. Instances sharing a
	// store should set it to one name that reaches any of them.
	HTTPBaseURL string
	Signer      string // "local" or "upstream"
	// Upstream configures the upstream signer.
	Upstream UpstreamConfig
	// TLSCert and TLSKey are PEM files of the operator's certificate for
	// the issuer's HTTPS, reloaded when they change; empty means the
	// issuer makes its own.
	TLSCert, TLSKey string
	// Store is empty for SQLite in DataDir, or the postgres:// URL of a
	// database that several issuer instances share.
	Store string
	// CADir holds the CA's certificates and keys; empty means DataDir/ca.
	// Instances sharing a store must share these files (copied, or on a
	// shared file system). It never holds the root's key.
	CADir string
	// RootKeyFile is where the first start, which makes the CA, writes
	// the root's key, for the operator to move off the machine; it must
	// lie outside DataDir and CADir. Empty means DATADIR-root.key, beside
	// the data dir. The running issuer never reads it.
	RootKeyFile string
	// RootKeyPassphrase, when not empty, encrypts the root key file the
	// first start writes (see local.InitOptions.Passphrase).
	RootKeyPassphrase []byte
	// CAPermit lists what a new CA's root permits besides the zone: DNS
	// names (each with the names below it) and IP addresses or CIDR
	// prefixes. The issuer adds its Hostnames outside the zone and the
	// Listen IP. It counts only when the CA is made; see local.InitOptions.
	CAPermit []string
	// AttestRoots is a directory of PEM roots (*.pem, *.crt) of device
	// makers or attestation CAs that device-attest-01 statements must
	// chain to (draft-ietf-acme-device-attest); empty means none, so no
	// device can attest. Read at start.
	AttestRoots string
	// CAReload is how often the issuer looks in CADir for an intermediate
	// that `lantls ca rotate-intermediate` made; 0 means 10 seconds.
	CAReload time.Duration
	// Limits are the rate limits the ACME server enforces.
	Limits ratelimit.Limits
	// MaxDevicesPerOwner bounds the active devices an owner may pair or
	// add in the web UI; 0 means no limit.
	MaxDevicesPerOwner int
	// Keys says which account and certificate keys are acceptable, to the
	// ACME front end and the signer alike; zero is keypolicy.Default.
	Keys keypolicy.Policy
	// DNSListen is host:port of the zone's authoritative DNS server (UDP
	// and TCP); port 0 picks one. Empty means no DNS server.
	DNSListen string
	// MetricsListen is host:port of a plain HTTP listener that serves
	// /metrics alone; the HTTPS listener then answers 404 there. Empty
	// means /metrics on the HTTPS listener, to loopback clients only.
	MetricsListen string
	// TrustedProxies are the load balancers and reverse proxies whose
	// word about the client is taken for per-source rate limits:
	// X-Forwarded-For from them, and with ProxyProtocol a PROXY protocol
	// version 2 header, which their connections to the HTTPS listener must
	// then start with. From anywhere else both are ignored.
	TrustedProxies clientaddr.Proxies
	ProxyProtocol  bool
	// DNS configures the DNS server beyond its zone, store and listen
	// address (name servers, CAA, allowed ranges, rate limiting); its
	// Allow also bounds the addresses devices may report.
	DNS    dnsserver.Config
	Logger *slog.Logger
	Now    func() time.Time
}

// Defaults are the embedded defaults of `lantls issuer`.
var Defaults = Config{
	DataDir: "lantls-data",
	Zone:    "lan.test",
	Listen:  "127.0.0.1:8443",
	// HTTPListen is :80 in production, where CRL and AIA fetchers
	// (Chromium, Windows) look.
	HTTPListen: "127.0.0.1:8080",
	// DNSListen is :53 in production.
	DNSListen: dnsserver.DefaultListen,
	Hostnames: []string{"localhost"},
	Signer:    "local",
	Limits:    ratelimit.Defaults,
	// MaxDevicesPerOwner is generous for a household, and bounds what one
	// owner can make the issuer hold (and, with the upstream signer, ask
	// for).
	MaxDevicesPerOwner: 100,
}

// Issuer is a running issuer's state. Make one with New, serve with Run.
type Issuer struct {
	cfg     Config
	store   store.Store
	ca      *local.CA
	acme    *acme.Server
	pairing *pairing.Service
	device  *deviceserver.Server
	dns     *dnsserver.Server // nil without a DNS server
	web     *web.Server
	// attestRoots are the roots of --attest-roots, nil without.
	attestRoots []*x509.Certificate
	// setupToken opens the UI's first-user setup page; empty once a user
	// exists.
	setupToken string
	ln         net.Listener
	srv        *http.Server
	httpLn     net.Listener // nil without a plain HTTP listener
	httpSrv    *http.Server
	metricsLn  net.Listener // nil without a metrics listener
	metricsSrv *http.Server
	registry   *prometheus.Registry
	lock       *os.File    // held while the issuer lives
	shared     sharedStore // the store, when other instances share it
	tlsCert    atomic.Pointer[tls.Certificate]
	upstream   *upstream.Signer // the signer, when it is the upstream one
	// upstreamCert is the issuer's own certificate from the upstream CA;
	// operatorCert the operator's (--tls-cert); stamp its files' times.
	upstreamCert  atomic.Pointer[tls.Certificate]
	operatorCert  atomic.Pointer[tls.Certificate]
	operatorStamp string
	// newRootKey is the root key file this start wrote, when it made the
	// CA.
	newRootKey string
	baseURL    string
	filesURL   string // base of the CRL and AIA URLs in new certificates

	crl atomic.Pointer[signedCRL] // the last CRL served

	metricsOnce sync.Once
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
}

// Info is what Info returns and what issuer.json holds: how to reach a
// running issuer.
type Info struct {
	Directory string `json:"directory"`
	Root      string `json:"root"`
	Zone      string `json:"zone"`
	BaseURL   string `json:"base_url"`
	// FilesURL is the base of the CRL and AIA URLs in new certificates:
	// FilesURL/ca/crl, FilesURL/ca/intermediate.crt.
	FilesURL string `json:"files_url"`
	// UpstreamAccount is the upstream signer's account URL, for CAA
	// accounturi (RFC 8657); empty for the local signer.
	UpstreamAccount string `json:"upstream_account,omitempty"`
	// DNS is host:port of the DNS server, empty without one.
	DNS string `json:"dns,omitempty"`
	// DNSAllow are the ranges device addresses must fall in, as CIDR
	// prefixes separated by commas (Ranges parses them).
	DNSAllow string `json:"dns_allow,omitempty"`
}

// InfoFile is the name of the file in the data dir that records Info.
const InfoFile = "issuer.json"

// New opens (or creates) the data dir, the store and the CA, and binds the
// listener, so that the address is known before Run.
func New(ctx context.Context, cfg Config) (*Issuer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		lock.Close()
		return nil, &ConfigError{Field: "Listen", Err: fmt.Errorf("listen on %s: %w", cfg.Listen, err)}
	}
	iss := &Issuer{cfg: cfg, ln: ln, lock: lock, registry: prometheus.NewRegistry()}
	if cfg.HTTPListen != "" {
		if iss.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			iss.Close()
			return nil, &ConfigError{Field: "HTTPListen", Err: fmt.Errorf("listen on %s: %w", cfg.HTTPListen, err)}
		}
	}
	if cfg.MetricsListen != "" {
		if iss.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			iss.Close()
			return nil, &ConfigError{Field: "MetricsListen", Err: fmt.Errorf("listen on %s: %w", cfg.MetricsListen, err)}
		}
	}
	if cfg.ProxyProtocol {
		if len(cfg.TrustedProxies) == 0 {
			iss.Close()
			return nil, &ConfigError{Field: "ProxyProtocol", Err: errors.New("the PROXY protocol needs the addresses of the proxies that send it")}
		}
		iss.ln = cfg.TrustedProxies.Listener(iss.ln)
	}
	if err := iss.open(ctx); err != nil {
		iss.Close()
		return nil, err
	}
	return iss, nil
}

// ConfigError is a Config field New cannot work with. Field is the name of
// the Config field, so that a command can name its own flag for it.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func (c *Config) check() error {
	switch c.Signer {
	case "local":
	case "upstream":
		if c.Upstream.Directory == "" {
			return &ConfigError{Field: "Upstream.Directory", Err: errors.New("the upstream signer needs the upstream CA's ACME directory URL")}
		}
	default:
		return &ConfigError{Field: "Signer", Err: fmt.Errorf("signer %q is not available; use local or upstream", c.Signer)}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &ConfigError{Field: "TLSCert", Err: errors.New("a TLS certificate needs its key and a key its certificate")}
	}
	zone, err := names.Normalize(c.Zone)
	if err != nil || strings.HasPrefix(zone, "*") {
		return &ConfigError{Field: "Zone", Err: fmt.Errorf("zone %q is not a DNS name with at least two labels, e.g. lan.test", c.Zone)}
	}
	c.Zone = zone
	if c.DataDir == "" {
		return &ConfigError{Field: "DataDir", Err: errors.New("data dir is empty")}
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return &ConfigError{Field: "DataDir", Err: fmt.Errorf("data dir %q: %w", c.DataDir, err)}
	}
	c.DataDir = abs
	if c.CADir == "" {
		c.CADir = filepath.Join(abs, "ca")
	} else if c.CADir, err = filepath.Abs(c.CADir); err != nil {
		return &ConfigError{Field: "CADir", Err: fmt.Errorf("CA dir: %w", err)}
	}
	if c.CAReload <= 0 {
		c.CAReload = 10 * time.Second
	}
	if c.RootKeyFile == "" {
		c.RootKeyFile = abs + "-root.key"
	} else if c.RootKeyFile, err = filepath.Abs(c.RootKeyFile); err != nil {
		return &ConfigError{Field: "RootKeyFile", Err: fmt.Errorf("root key file: %w", err)}
	}
	if local.Inside(c.RootKeyFile, abs) || local.Inside(c.RootKeyFile, c.CADir) {
		return &ConfigError{Field: "RootKeyFile", Err: fmt.Errorf("the root key file %s is inside the data dir or the CA dir, which the running issuer reads: keep it elsewhere", c.RootKeyFile)}
	}
	if c.HTTPBaseURL != "" {
		// Leaves carry it as an IA5String: ASCII only.
		u, err := url.Parse(c.HTTPBaseURL)
		if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") || !isASCII(c.HTTPBaseURL) {
			return &ConfigError{Field: "HTTPBaseURL", Err: fmt.Errorf("plain HTTP base URL %q is not http://host[:port]", c.HTTPBaseURL)}
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (iss *Issuer) open(ctx context.Context) error {
	cfg := &iss.cfg
	iss.baseURL = cfg.BaseURL
	if iss.baseURL == "" {
		iss.baseURL = "https://" + iss.ln.Addr().String()
	}
	iss.baseURL = strings.TrimSuffix(iss.baseURL, "/")
	switch {
	case cfg.HTTPBaseURL != "":
		iss.filesURL = strings.TrimSuffix(cfg.HTTPBaseURL, "/")
	case iss.httpLn != nil:
		iss.filesURL = "http://" + iss.httpLn.Addr().String()
	default:
		iss.filesURL = iss.baseURL
	}
	var err error
	iss.store, err = OpenStore(ctx, cfg.DataDir, cfg.Store)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	caOpts := local.Options{Zone: cfg.Zone, BaseURL: iss.filesURL, Keys: cfg.Keys, Now: cfg.Now,
		Init: local.InitOptions{Permit: iss.rootPermits(), RootKeyFile: cfg.RootKeyFile, Passphrase: cfg.RootKeyPassphrase}}
	if _, err := os.Stat(cfg.RootKeyFile); errors.Is(err, os.ErrNotExist) {
		defer func() {
			if _, err := os.Stat(cfg.RootKeyFile); err == nil {
				iss.newRootKey = cfg.RootKeyFile
			}
		}()
	}
	if shared, ok := iss.store.(sharedStore); ok {
		// Other instances may be signing: orders left processing are
		// failed later, by failStaleOrdersLoop, once none can be.
		iss.shared = shared
		iss.ca, err = openSharedCA(ctx, shared, cfg.CADir, caOpts)
	} else if cfg.Signer != "upstream" { // the upstream queue resumes its orders
		// The data dir lock makes this the only issuer on the store, so an
		// order still processing was cut off by a crash: fail it, and its
		// client orders again, instead of polling it for a day.
		var n int
		n, err = iss.store.FailProcessingOrders(ctx, problem.ServerInternalErr("the issuer restarted while signing; place a new order"))
		if err != nil {
			return fmt.Errorf("recover orders: %w", err)
		}
		if n > 0 {
			cfg.Logger.Warn("orders cut off by a restart made invalid", "orders", n)
		}
	}
	if iss.ca == nil && err == nil {
		iss.ca, err = local.Open(cfg.CADir, caOpts)
	}
	if ee := (*local.ExistsError)(nil); errors.As(err, &ee) && ee.RootKey {
		return &ConfigError{Field: "RootKeyFile", Err: fmt.Errorf("make the CA: %w", err)}
	}
	if ze := (*local.ZoneError)(nil); errors.As(err, &ze) {
		return &ConfigError{Field: "Zone", Err: fmt.Errorf("open CA: %w", err)}
	}
	if err != nil {
		return fmt.Errorf("open CA: %w", err)
	}
	iss.warnCA()
	if err := iss.renewTLSCert(); err != nil {
		return err
	}
	if cfg.TLSCert != "" {
		if iss.operatorStamp, err = iss.loadOperatorCert(); err != nil {
			return err
		}
	}
	// The DNS server first: the upstream signer checks its answers.
	if err := iss.openDNS(ctx); err != nil {
		return err
	}
	signer := ca.Signer(iss.ca)
	if cfg.Signer == "upstream" {
		if iss.upstream, err = iss.openUpstream(ctx); err != nil {
			return err
		}
		signer = iss.upstream
	}
	iss.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var verifier *attest.Verifier
	if cfg.AttestRoots != "" {
		roots, err := attest.LoadRoots(cfg.AttestRoots)
		if err != nil {
			return fmt.Errorf("load attestation roots: %w", err)
		}
		verifier = &attest.Verifier{Roots: roots, Now: cfg.Now}
		iss.attestRoots = roots
		for _, r := range roots {
			cfg.Logger.Info("attestation root", "subject", r.Subject.String(), "sha256", attest.Fingerprint(r))
		}
	}
	iss.acme, err = acme.New(ctx, acme.Config{
		Store:       iss.store,
		Signer:      signer,
		Zone:        cfg.Zone,
		BaseURL:     iss.baseURL,
		IssuerCert:  iss.ca.Intermediate(),
		Issuers:     iss.ca.Intermediates,
		Logger:      cfg.Logger,
		Registerer:  iss.registry,
		Now:         cfg.Now,
		Limits:      cfg.Limits,
		Keys:        cfg.Keys,
		Attestation: verifier,
		// The data dir lock makes a SQLite issuer the only one on its
		// store; instances sharing one spend nonces in it.
		LocalNonces: iss.shared == nil,
	})
	if err != nil {
		return fmt.Errorf("start ACME server: %w", err)
	}
	iss.pairing, err = pairing.New(pairing.Config{
		MaxDevicesPerOwner: cfg.MaxDevicesPerOwner,
		Store:              iss.store,
		Zone:               cfg.Zone,
		BaseURL:            iss.baseURL,
		Limits:             cfg.Limits,
		Logger:             cfg.Logger,
		Now:                cfg.Now,
	})
	if err != nil {
		return fmt.Errorf("start pairing: %w", err)
	}
	if err := iss.openDeviceAPI(); err != nil {
		return err
	}
	if err := iss.openWeb(ctx); err != nil {
		return err
	}
	iss.srv = &http.Server{
		Handler:           cfg.TrustedProxies.Handler(iss.routes()),
		TLSConfig:         tlsprofile.Apply(&tls.Config{GetCertificate: iss.getCertificate}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	if iss.httpLn != nil {
		iss.httpSrv = &http.Server{
			Handler:           iss.httpRoutes(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		}
	}
	if iss.metricsLn != nil {
		iss.metricsSrv = &http.Server{
			Handler:           iss.metricsRoutes(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		}
	}
	return writeJSONAtomic(filepath.Join(cfg.DataDir, InfoFile), iss.Info())
}

// openDeviceAPI makes the device API's server: an address report
// refreshes the DNS index before it is answered.
func (iss *Issuer) openDeviceAPI() error {
	cfg := deviceserver.Config{
		Store:  iss.store,
		Zone:   iss.cfg.Zone,
		Limits: iss.cfg.Limits,
		Allow:  iss.allowedRanges(),
		Logger: iss.cfg.Logger,
		Now:    iss.cfg.Now,
	}
	if iss.upstream == nil {
		cfg.AddsName = iss.ca.AddsName
	}
	if iss.dns != nil {
		cfg.AddressesChanged = iss.dns.Refresh
	}
	var err error
	if iss.device, err = deviceserver.New(cfg); err != nil {
		return fmt.Errorf("start device API: %w", err)
	}
	return nil
}

// openWeb starts the owner UI. With no user yet, it makes the one-time
// token of the setup page, which `lantls issuer` prints.
func (iss *Issuer) openWeb(ctx context.Context) error {
	us, err := iss.store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("start web UI: %w", err)
	}
	if len(us) == 0 {
		b := make([]byte, 18)
		rand.Read(b)
		iss.setupToken = base64.RawURLEncoding.EncodeToString(b)
	}
	// The signer says which extra names it signs: the local one short
	// names in the zone, and .local ones where the root permits local.
	var adder ca.NameAdder = iss.ca
	shortNames := iss.upstream == nil
	mdnsNames := shortNames && adder.AddsName("x.local")
	iss.web, err = web.New(ctx, web.Config{
		Store:              iss.store,
		Zone:               iss.cfg.Zone,
		BaseURL:            iss.baseURL,
		FilesURL:           iss.filesURL,
		Directory:          iss.baseURL + "/acme/directory",
		Root:               iss.ca.Root(),
		ShortNames:         shortNames,
		MDNSNames:          mdnsNames,
		RPID:               rpID(iss.cfg.Hostnames),
		Pairing:            iss.pairing,
		AttestRoots:        iss.attestRoots,
		SetupToken:         iss.setupToken,
		MaxDevicesPerOwner: iss.cfg.MaxDevicesPerOwner,
		Logger:             iss.cfg.Logger,
		Now:                iss.cfg.Now,
	})
	if err != nil {
		return fmt.Errorf("start web UI: %w", err)
	}
	return nil
}

// rpID is the passkey relying party ID: the first of the hostnames that is
// a name, not an IP address; "" (no passkeys) if there is none.
func rpID(hostnames []string) string {
	for _, h := range hostnames {
		if net.ParseIP(h) == nil && h != "" {
			return h
		}
	}
	return ""
}

// SetupURL is the address of the owner UI's first-user setup page with its
// one-time token, at UIURL, or "" once any user exists.
func (iss *Issuer) SetupURL() string {
	if iss.setupToken == "" {
		return ""
	}
	return iss.UIURL() + "setup?token=" + iss.setupToken
}

// UIURL is the one address of the owner UI the issuer gives people: by
// the first host name the operator chose (--hostname), where passkeys
// work, or else the base URL (the listen address). The default
// "localhost" reaches the UI from the issuer's own machine only, so it
// is not that name.
func (iss *Issuer) UIURL() string {
	host := uiHost(iss.cfg.Hostnames)
	if host == "" {
		return iss.baseURL + "/"
	}
	_, port, _ := net.SplitHostPort(iss.ln.Addr().String())
	if u, err := url.Parse(iss.baseURL); err == nil && u.Port() != "" {
		port = u.Port()
	}
	if port == "443" {
		return "https://" + host + "/"
	}
	return "https://" + net.JoinHostPort(host, port) + "/"
}

// uiHost is the first of the hostnames that is a name other than
// localhost; "" if there is none.
func uiHost(hostnames []string) string {
	for _, h := range hostnames {
		if net.ParseIP(h) == nil && h != "" && h != "localhost" {
			return h
		}
	}
	return ""
}

// Info says how to reach this issuer.
func (iss *Issuer) Info() Info {
	info := Info{
		Directory: iss.baseURL + "/acme/directory",
		Root:      filepath.Join(iss.cfg.CADir, "root.pem"),
		Zone:      iss.cfg.Zone,
		BaseURL:   iss.baseURL,
		FilesURL:  iss.filesURL,
		DNS:       iss.dnsAddr(),
		DNSAllow:  rangesString(iss.allowedRanges()),
	}
	if iss.upstream != nil {
		info.UpstreamAccount = iss.upstream.AccountURL()
	}
	return info
}

// MetricsAddr is host:port of the metrics listener, "" without one.
func (iss *Issuer) MetricsAddr() string {
	if iss.metricsLn == nil {
		return ""
	}
	return iss.metricsLn.Addr().String()
}

// Store returns the issuer's store, for in-process tools such as the demo.
func (iss *Issuer) Store() store.Store { return iss.store }

// Pairing returns the issuer's pairing service (RFC 8628), which the owner
// UI and in-process tools use to approve and deny devices.
func (iss *Issuer) Pairing() *pairing.Service { return iss.pairing }

// RootPEM returns the local CA's root certificate.
func (iss *Issuer) RootPEM() []byte { return iss.ca.RootPEM() }

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 10 s), waits for every
// goroutine it started, and only then closes the store. When a server
// fails, the others are stopped the same way and Run returns its error.
func (iss *Issuer) Run(ctx context.Context) error {
	defer iss.release()
	g, ctx := errgroup.WithContext(ctx)
	serve := func(what string, fn func() error) {
		g.Go(func() error {
			if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", what, err)
			}
			return nil
		})
	}
	loop := func(fn func(context.Context)) { g.Go(func() error { fn(ctx); return nil }) }
	serve("https", func() error { return iss.srv.ServeTLS(iss.ln, "", "") })
	if iss.httpSrv != nil {
		serve("http", func() error { return iss.httpSrv.Serve(iss.httpLn) })
	}
	if iss.metricsSrv != nil {
		serve("metrics", func() error { return iss.metricsSrv.Serve(iss.metricsLn) })
	}
	loop(func(ctx context.Context) { iss.acme.RunSweeper(ctx, time.Minute) })
	loop(func(ctx context.Context) { iss.pairing.RunSweeper(ctx, time.Hour) })
	loop(iss.renewTLSCertLoop)
	loop(func(ctx context.Context) { iss.reloadCALoop(ctx, iss.cfg.CAReload) })
	if iss.dns != nil {
		serve("dns", func() error { return iss.dns.Run(ctx) })
	}
	if iss.shared != nil && iss.upstream == nil {
		loop(func(ctx context.Context) { iss.failStaleOrdersLoop(ctx, iss.shared, time.Minute) })
	}
	if iss.upstream != nil {
		loop(iss.upstream.Run)
		if hosts := iss.ownZoneNames(); len(hosts) > 0 && iss.cfg.TLSCert == "" {
			loop(func(ctx context.Context) { iss.upstreamTLSLoop(ctx, hosts) })
		}
	}
	if iss.cfg.TLSCert != "" {
		loop(func(ctx context.Context) { iss.watchOperatorCert(ctx, iss.operatorStamp) })
	}
	g.Go(func() error {
		<-ctx.Done()
		iss.cfg.Logger.Info("issuer shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := iss.srv.Shutdown(sctx)
		if iss.httpSrv != nil {
			err = errors.Join(err, iss.httpSrv.Shutdown(sctx))
		}
		if iss.metricsSrv != nil {
			err = errors.Join(err, iss.metricsSrv.Shutdown(sctx))
		}
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	})
	iss.cfg.Logger.Info("issuer started", "directory", iss.Info().Directory, "zone", iss.cfg.Zone)
	return g.Wait()
}

// Close releases what New opened, for an issuer that never ran.
func (iss *Issuer) Close() error {
	iss.ln.Close()
	if iss.httpLn != nil {
		iss.httpLn.Close()
	}
	if iss.metricsLn != nil {
		iss.metricsLn.Close()
	}
	if iss.dns != nil {
		iss.dns.Close()
	}
	return iss.release()
}

// release closes the store, then gives up the data dir.
func (iss *Issuer) release() error {
	var err error
	if iss.store != nil {
		err = iss.store.Close()
		iss.store = nil
	}
	if iss.lock != nil {
		iss.lock.Close()
		iss.lock = nil
	}
	return err
}

// reloadCALoop takes, every period until ctx is done, the intermediate
// that `lantls ca rotate-intermediate` put in the CA directory: new
// certificates, the CRL and the issuer's own certificate come from it at
// once, with no restart, and the old one's certificates stay the issuer's
// own (ARI, replaces, revocation).
func (iss *Issuer) reloadCALoop(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := iss.ca.Reload()
		if err != nil {
			iss.cfg.Logger.Error("the CA directory's intermediate does not load; still signing with the previous one", "err", err)
			continue
		}
		if !changed {
			continue
		}
		iss.crl.Store(nil)
		inter := iss.ca.Intermediate()
		iss.cfg.Logger.Info("signing with a new intermediate", "subject", inter.Subject.CommonName,
			"not_after", inter.NotAfter, "sha256", local.Describe(inter).Fingerprint)
		if err := iss.renewTLSCert(); err != nil {
			iss.cfg.Logger.Error("renew issuer certificate", "err", err)
		}
	}
}

// renewTLSCertLoop renews the issuer's own certificate 30 days before it
// expires, checking hourly, until ctx is done.
func (iss *Issuer) renewTLSCertLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if leaf := iss.tlsCert.Load().Leaf; iss.cfg.Now().After(leaf.NotAfter.Add(-30 * 24 * time.Hour)) {
			if err := iss.renewTLSCert(); err != nil {
				iss.cfg.Logger.Error("renew issuer certificate", "err", err)
			}
		}
	}
}

// renewTLSCert issues the issuer's own HTTPS certificate from the
// intermediate for the configured hostnames and the listen IP, leaving
// out, with a warning, those the root does not permit.
func (iss *Issuer) renewTLSCert() error {
	var hosts, dropped []string
	for _, h := range iss.ownHosts() {
		if iss.ca.Legacy() || iss.ca.Permits(h) {
			hosts = append(hosts, h)
		} else {
			dropped = append(dropped, h)
		}
	}
	if len(dropped) > 0 {
		iss.cfg.Logger.Warn("the CA root does not permit some of the issuer's names, so its certificate leaves them out; "+
			"to add them, make a new CA that permits them (lantls ca init --permit) and trust it on the clients",
			"left_out", strings.Join(dropped, ","), "permitted", strings.Join(local.Describe(iss.ca.Root()).Permitted, ","))
	}
	if len(hosts) == 0 {
		return fmt.Errorf("issue the issuer's own certificate: the CA root permits none of its names (%s); "+
			"give a host name or listen address the root permits, or make a new CA", strings.Join(dropped, ", "))
	}
	cert, err := iss.ca.ServerCertificate(hosts)
	if err != nil {
		return fmt.Errorf("issue the issuer's own certificate: %w", err)
	}
	iss.tlsCert.Store(cert)
	return nil
}

// ownHosts are the names the issuer's own certificate should carry: the
// configured hostnames and the listen IP, unless it listens on all.
func (iss *Issuer) ownHosts() []string {
	hosts := append([]string(nil), iss.cfg.Hostnames...)
	if host, _, err := net.SplitHostPort(iss.ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

// rootPermits is what a CA made at this start permits besides the zone:
// the issuer's own names and listen IP (names in the zone are permitted
// anyway), and the operator's CAPermit.
func (iss *Issuer) rootPermits() []string {
	return append(iss.ownHosts(), iss.cfg.CAPermit...)
}

// warnCA logs what is wrong with a CA that still works: a root without
// name constraints, a root key where the issuer could read it.
func (iss *Issuer) warnCA() {
	if iss.ca.Legacy() {
		iss.cfg.Logger.Warn("the CA root has no name constraints, so every client that trusts it accepts whatever its key signs, "+
			"and that key is in the CA directory, which this issuer reads; to re-key: stop the issuer, move the CA directory aside, "+
			"run 'lantls ca init' (it makes a root constrained to the zone and keeps its key out of the data dir), start the issuer, "+
			"and trust the new root on every client ('lantls trust install'); devices get certificates from it at their next renewal",
			"ca_dir", iss.cfg.CADir)
	}
	if iss.ca.StrayRootKey() {
		iss.cfg.Logger.Warn("the CA directory holds the root's key, which the issuer never needs: move it off this machine",
			"file", filepath.Join(iss.cfg.CADir, local.RootKeyFile))
	}
}

// NewRootKey is the file this start wrote the new CA's root key to, which
// the operator should move off the machine; "" when the CA existed.
func (iss *Issuer) NewRootKey() string { return iss.newRootKey }

// getCertificate serves the operator's certificate if there is one; else
// the issuer's certificate from the upstream CA to clients that ask for
// one of its names; else the local root's.
func (iss *Issuer) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := iss.operatorCert.Load(); c != nil {
		return c, nil
	}
	if c := iss.upstreamCert.Load(); c != nil && hello.ServerName != "" && c.Leaf.VerifyHostname(hello.ServerName) == nil {
		return c, nil
	}
	return iss.tlsCert.Load(), nil
}

// writeJSONAtomic writes v to path through a temporary file and a rename,
// so a crash never leaves half a file.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// ReadInfo reads issuer.json from a data dir.
func ReadInfo(dataDir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, InfoFile))
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("read %s: %w", InfoFile, err)
	}
	return &info, nil
}
