// Package issuer wires the store, the signer, the ACME front end and the
// CA's public files into one HTTPS server with Run(ctx).
package issuer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lantls/lantls/acme"
	"github.com/lantls/lantls/ca/local"
	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/pairing"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// Config is everything an issuer needs; Defaults fills the gaps.
type Config struct {
	DataDir   string   // holds lantls.db, ca/ and issuer.json
	Zone      string   // the DNS zone device names live in
	Listen    string   // host:port of the HTTPS listener; port 0 picks one
	Hostnames []string // names in the issuer's own certificate, besides the listen IP
	// BaseURL is how clients reach the issuer; empty means https://LISTEN.
	// It is baked into certificates as their CRL and AIA URLs.
	BaseURL string
	Signer  string // "local"
	// Store is empty for SQLite in DataDir, or the postgres:// URL of a
	// database that several issuer instances share.
	Store string
	// CADir holds the CA's certificates and keys; empty means DataDir/ca.
	// Instances sharing a store must share these files (copied, or on a
	// shared file system).
	CADir string
	// Limits are the rate limits the ACME server enforces.
	Limits ratelimit.Limits
	Logger *slog.Logger
	Now    func() time.Time
}

// Defaults are the embedded defaults of `lantls issuer`.
var Defaults = Config{
	DataDir:   "lantls-data",
	Zone:      "lan.test",
	Listen:    "127.0.0.1:8443",
	Hostnames: []string{"localhost"},
	Signer:    "local",
	Limits:    ratelimit.Defaults,
}

// Issuer is a running issuer's state. Make one with New, serve with Run.
type Issuer struct {
	cfg      Config
	store    store.Store
	ca       *local.CA
	acme     *acme.Server
	pairing  *pairing.Service
	ln       net.Listener
	srv      *http.Server
	registry *prometheus.Registry
	lock     *os.File    // held while the issuer lives
	shared   sharedStore // the store, when other instances share it
	tlsCert  atomic.Pointer[tls.Certificate]
	baseURL  string
}

// Info is what Info returns and what issuer.json holds: how to reach a
// running issuer.
type Info struct {
	Directory string `json:"directory"`
	Root      string `json:"root"`
	Zone      string `json:"zone"`
	BaseURL   string `json:"base_url"`
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
		return nil, fmt.Errorf("listen on %s: %w (pick another address with --listen)", cfg.Listen, err)
	}
	iss := &Issuer{cfg: cfg, ln: ln, lock: lock, registry: prometheus.NewRegistry()}
	if err := iss.open(ctx); err != nil {
		iss.Close()
		return nil, err
	}
	return iss, nil
}

func (c *Config) check() error {
	if c.Signer != "local" {
		return fmt.Errorf("signer %q is not available: use --signer local", c.Signer)
	}
	zone, err := names.Normalize(c.Zone)
	if err != nil || strings.HasPrefix(zone, "*") {
		return fmt.Errorf("zone %q is not a DNS name with at least two labels, e.g. lan.test", c.Zone)
	}
	c.Zone = zone
	if c.DataDir == "" {
		return errors.New("data dir is empty: pass --data DIR")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.CADir == "" {
		c.CADir = filepath.Join(abs, "ca")
	} else if c.CADir, err = filepath.Abs(c.CADir); err != nil {
		return fmt.Errorf("CA dir: %w", err)
	}
	return nil
}

func (iss *Issuer) open(ctx context.Context) error {
	cfg := &iss.cfg
	iss.baseURL = cfg.BaseURL
	if iss.baseURL == "" {
		iss.baseURL = "https://" + iss.ln.Addr().String()
	}
	iss.baseURL = strings.TrimSuffix(iss.baseURL, "/")
	var err error
	iss.store, err = OpenStore(ctx, cfg.DataDir, cfg.Store)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	caOpts := local.Options{Zone: cfg.Zone, BaseURL: iss.baseURL, Now: cfg.Now}
	if shared, ok := iss.store.(sharedStore); ok {
		// Other instances may be signing: orders left processing are
		// failed later, by failStaleOrdersLoop, once none can be.
		iss.shared = shared
		iss.ca, err = openSharedCA(ctx, shared, cfg.CADir, caOpts)
	} else {
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
		iss.ca, err = local.Open(cfg.CADir, caOpts)
	}
	if err != nil {
		return fmt.Errorf("open CA: %w", err)
	}
	if err := iss.renewTLSCert(); err != nil {
		return err
	}
	iss.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	iss.acme, err = acme.New(ctx, acme.Config{
		Store:      iss.store,
		Signer:     iss.ca,
		Zone:       cfg.Zone,
		BaseURL:    iss.baseURL,
		IssuerCert: iss.ca.Intermediate(),
		Logger:     cfg.Logger,
		Registerer: iss.registry,
		Now:        cfg.Now,
		Limits:     cfg.Limits,
		// The data dir lock makes a SQLite issuer the only one on its
		// store; instances sharing one spend nonces in it.
		LocalNonces: iss.shared == nil,
	})
	if err != nil {
		return fmt.Errorf("start ACME server: %w", err)
	}
	iss.pairing, err = pairing.New(pairing.Config{
		Store:   iss.store,
		Zone:    cfg.Zone,
		BaseURL: iss.baseURL,
		Limits:  cfg.Limits,
		Logger:  cfg.Logger,
		Now:     cfg.Now,
	})
	if err != nil {
		return fmt.Errorf("start pairing: %w", err)
	}
	iss.srv = &http.Server{
		Handler:           iss.routes(),
		TLSConfig:         &tls.Config{GetCertificate: iss.getCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return writeJSONAtomic(filepath.Join(cfg.DataDir, InfoFile), iss.Info())
}

// Info says how to reach this issuer.
func (iss *Issuer) Info() Info {
	return Info{
		Directory: iss.baseURL + "/acme/directory",
		Root:      filepath.Join(iss.cfg.CADir, "root.pem"),
		Zone:      iss.cfg.Zone,
		BaseURL:   iss.baseURL,
	}
}

// Store returns the issuer's store, for in-process tools such as the demo.
func (iss *Issuer) Store() store.Store { return iss.store }

// Pairing returns the issuer's pairing service (RFC 8628), which the owner
// UI and in-process tools use to approve and deny devices.
func (iss *Issuer) Pairing() *pairing.Service { return iss.pairing }

// RootPEM returns the local CA's root certificate.
func (iss *Issuer) RootPEM() []byte { return iss.ca.RootPEM() }

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 10 s) and closes the
// store.
func (iss *Issuer) Run(ctx context.Context) error {
	defer iss.release()
	errc := make(chan error, 1)
	go func() { errc <- iss.srv.ServeTLS(iss.ln, "", "") }()
	go iss.acme.RunSweeper(ctx, time.Minute)
	go iss.pairing.RunSweeper(ctx, time.Hour)
	go iss.renewTLSCertLoop(ctx)
	if iss.shared != nil {
		go iss.failStaleOrdersLoop(ctx, iss.shared, time.Minute)
	}
	iss.cfg.Logger.Info("issuer started", "directory", iss.Info().Directory, "zone", iss.cfg.Zone)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	iss.cfg.Logger.Info("issuer shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := iss.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Close releases what New opened, for an issuer that never ran.
func (iss *Issuer) Close() error {
	iss.ln.Close()
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

// renewTLSCert issues the issuer's own HTTPS certificate from the root for
// the configured hostnames and the listen IP.
func (iss *Issuer) renewTLSCert() error {
	hosts := append([]string(nil), iss.cfg.Hostnames...)
	if host, _, err := net.SplitHostPort(iss.ln.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	cert, err := iss.ca.ServerCertificate(hosts)
	if err != nil {
		return fmt.Errorf("issue the issuer's own certificate: %w", err)
	}
	iss.tlsCert.Store(cert)
	return nil
}

func (iss *Issuer) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
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
