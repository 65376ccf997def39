// Package agent is the device side of lantls: it pairs the device with its
// owner (RFC 8628), gets and renews the device's certificate over ACME
// (RFC 8555, renewal timed by ARI, RFC 9773), reports the device's LAN
// addresses, and hands the certificate to the device's server.
//
// It is small and links no issuer code. Use it like autocert:
//
//	a, err := agent.New(agent.Config{Issuer: "https://hub.lan.example:8443", Roots: issuerRoot})
//	if err != nil {
//		log.Fatal(err)
//	}
//	go func() { log.Fatal(a.Run(ctx)) }() // the pairing code and any failure are logged
//	srv := &http.Server{Addr: ":443", TLSConfig: a.TLSConfig(), Handler: h}
//	log.Fatal(srv.ListenAndServeTLS("", ""))
//
// Run keeps trying while the network or the issuer is down, and returns
// only when ctx ends or on what trying again cannot fix: ErrDenied,
// ErrUnpaired, ErrUntrustedIssuer, ErrCorruptState, ErrLocked.
//
// Three ways to use the certificate are built in: TLSConfig for a Go
// server, Files for servers that read PEM files (with a reload hook), and
// the sub-package proxy in front of an existing plain-HTTP UI; onboard
// serves the plain-HTTP onboarding page and announce announces the device
// over DNS-SD.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures an Agent. Issuer is required; every other zero field
// has the default its comment names.
type Config struct {
	// Issuer is the issuer's base URL, e.g. https://hub.lan.example:8443.
	Issuer string
	// Roots verify the issuer's own certificate; nil means the system roots.
	Roots *x509.CertPool
	// Storage keeps keys, certificate and credentials; nil means
	// DirStorage(DefaultDir()).
	Storage Storage
	// Model and Hostname are shown to the owner when approving; Hostname
	// defaults to os.Hostname.
	Model    string
	Hostname string
	// OnPairing is called each time a new user code waits for the owner;
	// nil logs it (at Info, to Logger).
	OnPairing func(Pairing)
	// PairAgain makes Run, when the owner unpairs the device, wipe the
	// state and pair again with a new code rather than return
	// ErrUnpaired.
	PairAgain bool
	// OnCertificate is called once for every new certificate after it is
	// stored and served (the files mode writes files and runs its hook
	// here). An error is logged, reported and retried with backoff until
	// it succeeds or a newer certificate replaces this one.
	OnCertificate func(ctx context.Context, cert *tls.Certificate) error
	// AllowedRanges are the address ranges reported to the issuer; nil
	// means DefaultRanges.
	AllowedRanges []netip.Prefix
	// Addresses lists the device's addresses; nil means the addresses of
	// the host's interfaces, watched for changes.
	Addresses func() ([]netip.Addr, error)
	// RetryBase is the first delay after a failure, doubled on each
	// further failure up to RetryMax, with jitter; defaults 2s and 1h.
	RetryBase time.Duration
	RetryMax  time.Duration
	// NameCheck is the DNS resolver (host:port) through which the agent
	// checks, once it has a certificate, that one of its address-names
	// resolves, and reports a DNS-rebind filter to the issuer:
	// NameCheckSystem asks the first nameserver of /etc/resolv.conf;
	// empty means no check.
	NameCheck string
	// Logger receives progress, the pairing code (unless OnPairing is
	// set) and failures; nil means slog.Default(), which writes to
	// stderr.
	Logger *slog.Logger
	// Attester, when set, proves to the issuer that the certificate key
	// lives in hardware (device-attest-01, attester.go): certificates are
	// then for its key. Nil: a fresh key in memory for each certificate.
	Attester Attester
}

// Agent is one device's lantls agent. Make one with New and start it with
// Run.
type Agent struct {
	cfg   Config
	httpc *http.Client
	log   *slog.Logger

	cert     atomic.Pointer[tls.Certificate]
	pending  atomic.Pointer[Pairing]
	origins  atomic.Pointer[originSet]
	ready    chan struct{} // closed once a certificate is served
	readyOne sync.Once
	renewNow chan struct{}
	hookKick chan struct{}
	// reportKick wakes reportLoop to send unreported.
	reportKick chan struct{}
	// forceNext makes the next renewal pass renew whatever ARI says; only
	// the renewal loop touches it.
	forceNext bool
	// revoked is the serial of the served certificate when the issuer
	// says it is revoked, or "".
	revoked atomic.Pointer[string]
	// renamed is the serial of the served certificate once the issuer's
	// policy named other extra names for it (noteNames), or "".
	renamed atomic.Pointer[string]
	// stopPaired ends the work of a paired device with ErrUnpaired; it is
	// set before that work starts.
	stopPaired context.CancelCauseFunc
	// policyMax caps the wait between two policy fetches, and so how
	// long an unpair or a revocation takes to reach the device.
	policyMax time.Duration

	mu         sync.Mutex // guards state, status, ari and unreported
	state      *state
	status     Status
	ari        *ariState
	unreported *statusReport // the status report not sent yet
}

// New checks cfg and loads the agent's state from its storage. It makes no
// network request.
func New(cfg Config) (*Agent, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("agent: no issuer URL")
	}
	if !strings.HasPrefix(cfg.Issuer, "https://") {
		return nil, fmt.Errorf("agent: issuer URL %q must start with https://", cfg.Issuer)
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.Storage == nil {
		cfg.Storage = DirStorage(DefaultDir())
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.AllowedRanges == nil {
		cfg.AllowedRanges = DefaultRanges
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{
		cfg:        cfg,
		log:        cfg.Logger,
		ready:      make(chan struct{}),
		renewNow:   make(chan struct{}, 1),
		hookKick:   make(chan struct{}, 1),
		reportKick: make(chan struct{}, 1),
		policyMax:  policyMaxWait,
	}
	a.origins.Store(&originSet{})
	if err := a.load(context.Background()); err != nil {
		return nil, err
	}
	return a, nil
}

// load reads the state from storage and serves its certificate.
func (a *Agent) load(ctx context.Context) error {
	st, err := loadState(ctx, a.cfg.Storage)
	if errors.Is(err, ErrCorruptState) {
		return fmt.Errorf("%w; wipe the state (Wipe) to pair again", err)
	}
	if err != nil {
		return err
	}
	if st.cert == nil && st.creds != nil && a.cfg.Attester != nil {
		st.cert = a.attestedCertificate(ctx)
	}
	if st.statusLost != nil {
		a.log.Warn("the status file did not parse; rebuilt it from the rest of the state", "err", st.statusLost)
	}
	if st.creds != nil && st.creds.Issuer != a.cfg.Issuer {
		a.log.Warn("paired with another issuer URL than the one configured; using the one it paired with (wipe the state to pair with the other)",
			"paired", st.creds.Issuer, "configured", a.cfg.Issuer)
	}
	a.mu.Lock()
	a.state = st
	a.status = st.status
	a.mu.Unlock()
	if st.cert != nil {
		a.serve(st.cert)
	}
	a.httpc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{RootCAs: a.roots(st.creds), MinVersion: tls.VersionTLS12},
	}}
	return nil
}

// roots are the CAs the agent trusts for the issuer's own certificate:
// Config.Roots (nil: the system's), and the root that vouched for the
// issuer when the device paired, so that the device keeps trusting the
// issuer it paired with without being told again.
func (a *Agent) roots(creds *credentials) *x509.CertPool {
	if creds == nil || creds.IssuerCA == "" {
		return a.cfg.Roots
	}
	pool := a.cfg.Roots
	if pool == nil {
		var err error
		if pool, err = x509.SystemCertPool(); err != nil {
			pool = x509.NewCertPool()
		}
	} else {
		pool = pool.Clone()
	}
	if !pool.AppendCertsFromPEM([]byte(creds.IssuerCA)) {
		a.log.Warn("the stored issuer CA does not parse; trusting the configured roots only")
	}
	return pool
}

// Run pairs the device if it is not paired yet, gets its certificate if it
// has none that fits, and then keeps it renewed, reports the device's
// addresses and refreshes the owner's origin policy until ctx ends; the
// failures of its certificate work, and the success after them, are
// reported to the issuer for the owner to see. It keeps trying while the
// network or the issuer is down. It returns nil when ctx ends, and an
// error only when it cannot go on: ErrDenied (the owner denied the
// device), ErrUnpaired (the owner unpaired it, unless PairAgain),
// ErrUntrustedIssuer, ErrLocked (another agent runs on the storage) or a
// storage failure. Run holds the storage's lock while it runs.
func (a *Agent) Run(ctx context.Context) error {
	unlock, err := lock(ctx, a.cfg.Storage)
	if err != nil {
		return err
	}
	defer unlock()
	// A stopped agent leaves no connection to the issuer open, which an
	// issuer shutting down gracefully would wait for.
	defer a.httpc.CloseIdleConnections()
	for {
		err := a.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, ErrUnpaired) || !a.cfg.PairAgain {
			return err
		}
		a.log.Info("unpaired by the owner; pairing again")
	}
}

// runOnce pairs if needed, then does the work of a paired device until
// ctx ends or the device learns it was unpaired; then it stops serving
// the certificate, wipes the state and returns ErrUnpaired.
func (a *Agent) runOnce(ctx context.Context) error {
	if err := a.ensureAccountKey(ctx); err != nil {
		return err
	}
	if a.credentials() == nil {
		if err := a.pair(ctx); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a.stopPaired = cancel
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){a.addressLoop, a.policyLoop, a.hookLoop, a.reportLoop, a.nameCheckLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(pctx)
		}()
	}
	a.renewLoop(pctx)
	wg.Wait()
	if !errors.Is(context.Cause(pctx), ErrUnpaired) {
		return nil
	}
	a.cert.Store(nil) // before the wipe: never serve it again
	a.log.Warn("the owner unpaired this device, or the issuer no longer knows it: stopped serving its certificate, wiping the state")
	if err := wipe(ctx, a.cfg.Storage); err != nil {
		return err
	}
	a.forget()
	return ErrUnpaired
}

// TLSConfig returns a TLS configuration for the device's server whose
// GetCertificate always returns the current certificate, so a renewal
// takes effect at the next handshake without a restart. It offers HTTP/2
// and HTTP/1.1 and TLS 1.2 and 1.3.
func (a *Agent) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: a.GetCertificate,
	}
}

// GetCertificate returns the current certificate for any name: the one
// certificate covers every address-name of the device.
func (a *Agent) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := a.cert.Load()
	if c == nil {
		return nil, errors.New("agent: no certificate yet (the device is not paired or its first certificate is pending)")
	}
	return c, nil
}

// Certificate returns the certificate being served, or nil.
func (a *Agent) Certificate() *tls.Certificate { return a.cert.Load() }

// Identity returns the device's label and zone, "" before it has paired.
func (a *Agent) Identity() (label, zone string) {
	if c := a.credentials(); c != nil {
		return c.Label, c.Zone
	}
	return "", ""
}

// Addresses returns the addresses the agent last reported to the issuer.
func (a *Agent) Addresses() []netip.Addr {
	var out []netip.Addr
	for _, s := range a.Status().Addresses {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// Pending returns the user code waiting for the owner's approval, or nil
// when none is.
func (a *Agent) Pending() *Pairing { return a.pending.Load() }

// Ready is closed once the agent serves a certificate.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// RenewNow asks the running agent to renew at once, whatever ARI says.
func (a *Agent) RenewNow() {
	select {
	case a.renewNow <- struct{}{}:
	default:
	}
}

// serve swaps cert in for every later handshake; connections already made
// keep the certificate they shook hands with.
func (a *Agent) serve(cert *tls.Certificate) {
	a.cert.Store(cert)
	a.readyOne.Do(func() { close(a.ready) })
}

func (a *Agent) credentials() *credentials {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.creds
}
