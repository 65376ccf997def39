// Package upstream is the issuer's broker to a public ACME CA (RFC 8555):
// a ca.Signer that proves control of a device's names L.Z and *.L.Z with
// dns-01 TXT records in the issuer's own zone, forwards the device's CSR
// and returns the public chain. The device keeps its private key.
//
// Signing is a queue (ca.Queued): the ACME front end claims an order and,
// in the same transaction, Enqueue stores the work (store.UpstreamOrder).
// Run works the queue one order at a time; each step that talks to the
// upstream CA is saved before the next, so after a crash or kill -9 the
// work resumes where it stopped, and every end of it (valid or invalid)
// removes its TXT records in the transaction that ends the order.
package upstream

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mholt/acmez/v3/acme"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantls/lantls/ca"
	"github.com/lantls/lantls/internal/atomicfile"
	"github.com/lantls/lantls/keypolicy"
	"github.com/lantls/lantls/ratelimit"
	"github.com/lantls/lantls/store"
)

// Config is what New needs. Zero fields have the defaults named.
type Config struct {
	// Directory is the upstream CA's ACME directory URL.
	Directory string
	// EABKID and EABHMAC (base64url) bind the upstream account to an
	// account the operator has at the CA, for CAs that require it.
	EABKID, EABHMAC string
	// Roots verify the upstream's TLS certificate; nil means the system's.
	Roots *x509.CertPool
	// Profile is the upstream profile to ask for; empty means its default.
	Profile string
	// Dir holds the account key (account.key, 0600) and the account URL
	// (account.json); it is made 0700 if missing.
	Dir string
	// Store holds the queue, our orders and certificates, and the zone's
	// TXT records.
	Store store.Store
	// Record records a certificate the signer got for one of our orders
	// (devices.RecordCertificate): the signer only signs.
	Record ca.Record
	// Zone is the issuer's zone; device names are L.Zone and *.L.Zone.
	Zone string
	// DNSServer is the address (host:port) of the issuer's own DNS
	// server. Before answering a challenge, the signer waits until it
	// serves the TXT records. Empty skips the check.
	DNSServer string
	// Limits are the issuer's own budgets at the upstream CA.
	Limits Limits
	// Keys says which certificate keys Enqueue accepts; the zero value is
	// keypolicy.Default. The ACME front end should get the same.
	Keys keypolicy.Policy
	// PollInterval is the pause between polls of the upstream; 0 means
	// 500 ms.
	PollInterval time.Duration
	// MaxBackoff caps the wait between retries of an order while the
	// upstream cannot be reached; 0 means a minute.
	MaxBackoff time.Duration
	// Exclusive, for a store several issuer instances share, runs fn
	// while no other instance runs an Exclusive fn of the same name, so
	// that one instance at a time works the queue; nil for a store only
	// this process uses.
	Exclusive func(ctx context.Context, name string, fn func() error) error
	// Registerer receives the signer's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives the operator's log, with upstream details; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limits are the issuer's own budgets at the upstream CA, modelled on Let's
// Encrypt's published limits. Work past a budget waits in the queue; a
// finalize that arrives when one is spent is answered rateLimited with the
// time the budget allows again. ARI renewals (orders with replaces) are
// exempt, as they are at Let's Encrypt.
type Limits struct {
	// CertificatesPerDomain bounds new orders per registered domain (the
	// zone, or the domain it is registered under when it is not on the
	// Public Suffix List).
	CertificatesPerDomain ratelimit.Limit
	// OrdersPerAccount bounds new orders of the upstream account.
	OrdersPerAccount ratelimit.Limit
	// DuplicateCertificates bounds orders for the same set of names.
	DuplicateCertificates ratelimit.Limit
	// CertificatesPerOwner is each owner's share of
	// CertificatesPerDomain: the new upstream orders for the devices of
	// one owner. Without it one owner's devices could spend the whole
	// zone's budget and hold every other owner's new devices for a week.
	CertificatesPerOwner ratelimit.Limit
	// RegisteredDomain keys CertificatesPerDomain; empty means the zone.
	RegisteredDomain string
}

// DefaultLimits are Let's Encrypt's: 50 certificates per registered domain
// per 7 days, 300 new orders per account per 3 hours, 5 duplicate
// certificates per 7 days; and a fifth of the domain's budget, 10 a week,
// for each owner.
var DefaultLimits = Limits{
	CertificatesPerOwner:  ratelimit.Limit{Name: "upstream-certificates-per-owner", Count: 10, Period: 7 * 24 * time.Hour},
	CertificatesPerDomain: ratelimit.Limit{Name: "upstream-certificates-per-domain", Count: 50, Period: 7 * 24 * time.Hour},
	OrdersPerAccount:      ratelimit.Limit{Name: "upstream-orders-per-account", Count: 300, Period: 3 * time.Hour},
	DuplicateCertificates: ratelimit.Limit{Name: "upstream-duplicate-certificates", Count: 5, Period: 7 * 24 * time.Hour},
}

// Files in Config.Dir.
const (
	AccountKeyFile = "account.key"
	accountFile    = "account.json"
)

// Signer brokers certificates from an upstream ACME CA. Make it with New
// and work its queue with Run.
type Signer struct {
	cfg     Config
	client  *acme.Client
	key     crypto.Signer
	keyID   string // the account key's thumbprint: the budget key of the account
	log     *slog.Logger
	wake    chan struct{}
	metrics *metrics
	ari     ariCache // the upstream's renewal windows, by ARI identifier

	mu      sync.Mutex
	account acme.Account            // Location empty until registered
	waiters map[string][]chan error // by our order ID
	revoked map[string]bool         // serials the upstream has revoked
}

var (
	_ ca.Queued         = (*Signer)(nil)
	_ ca.Revoker        = (*Signer)(nil)
	_ ca.RenewalAdvisor = (*Signer)(nil)
)

// New checks cfg and loads the account key from cfg.Dir, making it on
// first use. It does not reach the upstream CA: Register does.
func New(cfg Config) (*Signer, error) {
	switch {
	case cfg.Directory == "":
		return nil, errors.New("upstream: no directory URL")
	case cfg.Store == nil:
		return nil, errors.New("upstream: no store")
	case cfg.Record == nil:
		return nil, errors.New("upstream: no function to record certificates")
	case cfg.Zone == "":
		return nil, errors.New("upstream: no zone")
	case cfg.Dir == "":
		return nil, errors.New("upstream: no directory for the account key")
	case (cfg.EABKID == "") != (cfg.EABHMAC == ""):
		return nil, errors.New("upstream: an external account binding needs both a key ID and an HMAC key")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limits.RegisteredDomain == "" {
		cfg.Limits.RegisteredDomain = cfg.Zone
	}
	key, err := LoadOrMakeKey(filepath.Join(cfg.Dir, AccountKeyFile))
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	s := &Signer{
		cfg:     cfg,
		key:     key,
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		waiters: map[string][]chan error{},
		revoked: map[string]bool{},
		client: &acme.Client{
			Directory:    cfg.Directory,
			HTTPClient:   newHTTPClient(cfg.Roots),
			UserAgent:    "lantls-upstream",
			PollInterval: cfg.PollInterval,
			PollTimeout:  2 * time.Minute,
		},
	}
	if s.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, fmt.Errorf("upstream: register metrics: %w", err)
	}
	s.account = acme.Account{PrivateKey: key, TermsOfServiceAgreed: true}
	if s.keyID, err = s.account.Thumbprint(); err != nil {
		return nil, fmt.Errorf("upstream: account key thumbprint: %w", err)
	}
	if url, ok := s.savedAccount(); ok {
		s.account.Location = url
	}
	return s, nil
}

// Metered reports true: each signature is an order at the upstream CA.
func (s *Signer) Metered() bool { return true }

// AccountURL returns the upstream account's URL, for CAA accounturi (RFC
// 8657); empty until Register has succeeded once.
func (s *Signer) AccountURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account.Location
}

// Register makes sure the upstream account exists and returns its URL. A
// key that is already registered gets its existing account back (RFC 8555
// section 7.3.1), so calling it again is harmless.
func (s *Signer) Register(ctx context.Context) (string, error) {
	if url := s.AccountURL(); url != "" {
		return url, nil
	}
	acct := acme.Account{PrivateKey: s.key, TermsOfServiceAgreed: true}
	if s.cfg.EABKID != "" {
		eab := acme.EAB{KeyID: s.cfg.EABKID, MACKey: strings.TrimRight(s.cfg.EABHMAC, "=")}
		if err := acct.SetExternalAccountBinding(ctx, s.client, eab); err != nil {
			return "", fmt.Errorf("upstream account binding: %w", err)
		}
	}
	acct, err := s.client.NewAccount(ctx, acct)
	if err != nil {
		return "", fmt.Errorf("register upstream account at %s: %w", s.cfg.Directory, err)
	}
	acct.PrivateKey = s.key
	if err := s.saveAccount(acct.Location); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.account = acct
	s.mu.Unlock()
	s.log.Info("upstream account registered", "directory", s.cfg.Directory, "account", acct.Location)
	return acct.Location, nil
}

// forgetAccount drops the account URL after the upstream said it does not
// know it (a CA that lost its state, such as a restarted test CA), so that
// the next step registers again.
func (s *Signer) forgetAccount() {
	s.mu.Lock()
	s.account.Location = ""
	s.mu.Unlock()
	os.Remove(filepath.Join(s.cfg.Dir, accountFile))
}

// acct returns the registered account, registering it first if needed.
func (s *Signer) acct(ctx context.Context) (acme.Account, error) {
	if _, err := s.Register(ctx); err != nil {
		return acme.Account{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account, nil
}

// savedAccount is what account.json says, if it is for this directory.
type savedAccount struct {
	Directory string `json:"directory"`
	URL       string `json:"url"`
}

func (s *Signer) savedAccount() (string, bool) {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, accountFile))
	if err != nil {
		return "", false
	}
	var a savedAccount
	if json.Unmarshal(b, &a) != nil || a.Directory != s.cfg.Directory || a.URL == "" {
		return "", false
	}
	return a.URL, true
}

func (s *Signer) saveAccount(url string) error {
	b, err := json.MarshalIndent(savedAccount{Directory: s.cfg.Directory, URL: url}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.cfg.Dir, accountFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save upstream account: %w", err)
	}
	return nil
}

// LoadOrMakeKey reads the PKCS#8 PEM key at path, or makes an ECDSA P-256
// key there (0600, in a 0700 directory) if there is none: the upstream
// account key, and the key of the issuer's own certificate from the
// upstream.
func LoadOrMakeKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return makeKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s holds no PKCS#8 PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s holds a key that cannot sign", path)
	}
	return signer, nil
}

func makeKey(path string) (crypto.Signer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("make key directory: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	return k, nil
}

// newHTTPClient is the client for the upstream: roots as given, and a
// transport that keeps each response's Retry-After where the caller asked
// for it (see retryAfterFrom).
func newHTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: retryAfterTransport{tr}, Timeout: 30 * time.Second}
}
