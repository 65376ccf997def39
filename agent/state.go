package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/lantls/lantls/names"
)

// Storage keys. Every one may be secret.
const (
	keyAccount     = "account.key"      // the ACME account key, which also paired
	keyCredentials = "credentials.json" // bearer token, EAB, names
	keyTLS         = "tls.key"          // the certificate's key, never the account key
	keyChain       = "chain.pem"        // leaf first
	keyStatus      = "status.json"      // renewal times, failures, last error
)

// stateKeys are all keys the agent writes, in the order a wipe deletes
// them: the account key first, so that a wipe cut short leaves
// credentials without their key, which loadState takes for a wipe's
// leftovers, never a key that pairs again under a label the issuer
// revoked.
var stateKeys = []string{keyAccount, keyCredentials, keyStatus, keyTLS, keyChain}

// credentials are what pairing returned (RFC 8628 token response with the
// lantls extension), plus the account URL once registered.
type credentials struct {
	Issuer       string    `json:"issuer"`
	Token        string    `json:"access_token"`
	TokenExpires time.Time `json:"token_expires,omitzero"`
	Directory    string    `json:"directory"`
	EABKID       string    `json:"eab_kid"`
	EABHMACKey   string    `json:"eab_hmac_key"`
	Label        string    `json:"label"`
	Zone         string    `json:"zone"`
	Names        []string  `json:"names"`
	AccountURL   string    `json:"account_url,omitempty"`
	// IssuerCA is the root (PEM) that vouched for the issuer's own
	// certificate when the device paired; the agent keeps trusting it.
	IssuerCA string `json:"issuer_ca,omitempty"`
}

// Status is what `lantls agent status` shows; the agent keeps it in its
// storage so another process can read it. It is a cache: when it does not
// parse, the agent rebuilds it from the rest of its state.
type Status struct {
	// Issuer is the issuer's base URL the device paired with, or is
	// pairing with.
	Issuer      string    `json:"issuer,omitempty"`
	Label       string    `json:"label,omitempty"`
	Zone        string    `json:"zone,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"` // Label in groups of four, as the approval page shows it
	Names       []string  `json:"names,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	NextRenewal time.Time `json:"next_renewal,omitzero"`
	// RenewalSource says where NextRenewal came from: "ari" or "lifetime".
	RenewalSource string    `json:"renewal_source,omitempty"`
	LastRenewal   time.Time `json:"last_renewal,omitzero"`
	Renewals      int       `json:"renewals"`
	Failures      int       `json:"failures"` // failures since the agent's state was made
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	// ReportFailures counts the reports of LastError (or of its clearing)
	// that did not reach the issuer.
	ReportFailures int `json:"report_failures"`
	// HookSerial is the serial of the last certificate OnCertificate
	// accepted, so a restart neither skips nor repeats it.
	HookSerial string   `json:"hook_serial,omitempty"`
	Addresses  []string `json:"addresses,omitempty"`
	// HTTPSPort is the port of the device's HTTPS server, as SetHTTPSPort
	// recorded it, for the URLs status shows.
	HTTPSPort string    `json:"https_port,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Pairing is the code waiting for the owner while the device pairs.
	Pairing *PairingStatus `json:"pairing,omitempty"`
}

// PairingStatus is the pending pairing as Status keeps it.
type PairingStatus struct {
	UserCode                string    `json:"user_code"`
	VerificationURIComplete string    `json:"verification_uri_complete"`
	Expires                 time.Time `json:"expires,omitzero"`
}

// state is everything loaded from storage.
type state struct {
	accountKey *ecdsa.PrivateKey
	creds      *credentials
	cert       *tls.Certificate
	status     Status
	// statusLost: status.json did not parse and was rebuilt.
	statusLost error
}

// loadState reads the agent's state from s. What is a cache (the status,
// a chain that does not match its key) is rebuilt or dropped; the account
// key and the credentials cannot be, and an error wrapping
// ErrCorruptState says which of them does not parse.
func loadState(ctx context.Context, s Storage) (*state, error) {
	st := &state{}
	if b, err := get(ctx, s, keyAccount); err != nil {
		return nil, err
	} else if b != nil {
		if st.accountKey, err = parseKey(b); err != nil {
			return nil, corrupt(keyAccount, err)
		}
	}
	if b, err := get(ctx, s, keyCredentials); err != nil {
		return nil, err
	} else if b != nil && st.accountKey != nil { // without the key: a wipe cut short (stateKeys)
		st.creds = &credentials{}
		if err := json.Unmarshal(b, st.creds); err != nil {
			return nil, corrupt(keyCredentials, err)
		}
		if err := st.creds.check(); err != nil {
			return nil, corrupt(keyCredentials, err)
		}
	}
	if b, err := get(ctx, s, keyStatus); err != nil {
		return nil, err
	} else if b != nil {
		if err := json.Unmarshal(b, &st.status); err != nil {
			st.status, st.statusLost = Status{}, err
		}
	}
	chain, err := get(ctx, s, keyChain)
	if err != nil {
		return nil, err
	}
	tlsKey, err := get(ctx, s, keyTLS)
	if err != nil {
		return nil, err
	}
	if chain != nil && tlsKey != nil && st.creds != nil {
		// A chain that does not load is treated as absent: the agent gets
		// a new one rather than refusing to start.
		if c, err := tls.X509KeyPair(chain, tlsKey); err == nil {
			st.cert = &c
		}
	}
	st.reconcile()
	return st, nil
}

// reconcile makes the status agree with the rest of the state, which
// rebuilds a lost one.
func (st *state) reconcile() {
	s := &st.status
	if st.creds != nil {
		s.Issuer, s.Label, s.Zone, s.Names = st.creds.Issuer, st.creds.Label, st.creds.Zone, st.creds.Names
		s.Pairing = nil
	} else if st.accountKey != nil {
		s.Label = names.Label(spkiOf(st.accountKey))
	}
	if s.Label != "" {
		s.Fingerprint = names.Grouped(s.Label)
	}
	if st.cert != nil {
		s.Serial, s.NotAfter = fmtSerial(st.cert.Leaf), st.cert.Leaf.NotAfter
	}
}

// ErrNotPaired: the storage holds no pairing.
var ErrNotPaired = errors.New("agent: not paired")

// ReadStatus reads the status a running or stopped agent left in s: that
// of a paired device, or of one waiting for its owner's approval.
func ReadStatus(ctx context.Context, s Storage) (*Status, error) {
	st, err := loadState(ctx, s)
	if err != nil {
		return nil, err
	}
	if st.creds == nil && st.status.Pairing == nil {
		return nil, fmt.Errorf("%w (no %s in storage)", ErrNotPaired, keyCredentials)
	}
	return &st.status, nil
}

func get(ctx context.Context, s Storage, key string) ([]byte, error) {
	b, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read %s: %w", key, err)
	}
	return b, nil
}

func put(ctx context.Context, s Storage, key string, data []byte) error {
	if err := s.Put(ctx, key, data); err != nil {
		return fmt.Errorf("agent: write %s: %w", key, err)
	}
	return nil
}

func putJSON(ctx context.Context, s Storage, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return put(ctx, s, key, append(b, '\n'))
}

func (a *Agent) ensureAccountKey(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state.accountKey != nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("agent: generate account key: %w", err)
	}
	b, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := put(ctx, a.cfg.Storage, keyAccount, b); err != nil {
		return err
	}
	a.state.accountKey = key
	return nil
}

func (a *Agent) accountKey() *ecdsa.PrivateKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.accountKey
}

func (a *Agent) saveCredentials(ctx context.Context, c *credentials) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := putJSON(ctx, a.cfg.Storage, keyCredentials, c); err != nil {
		return err
	}
	a.state.creds = c
	a.status.Issuer, a.status.Label, a.status.Zone, a.status.Names = c.Issuer, c.Label, c.Zone, c.Names
	return nil
}

// saveCertificate stores cert (key first, so a crash between the two
// writes leaves a chain that does not match its key, which load ignores,
// rather than a chain with no key).
func (a *Agent) saveCertificate(ctx context.Context, cert *tls.Certificate) error {
	keyPEM, err := encodeCertificateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	if err := put(ctx, a.cfg.Storage, keyTLS, keyPEM); err != nil {
		return err
	}
	return put(ctx, a.cfg.Storage, keyChain, encodeChain(cert.Certificate))
}

// updateStatus changes the status under the lock and stores it.
func (a *Agent) updateStatus(ctx context.Context, f func(*Status)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.status)
	a.status.UpdatedAt = time.Now()
	if err := putJSON(ctx, a.cfg.Storage, keyStatus, a.status); err != nil {
		a.log.Error("save status", "err", err)
	}
}

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	s.Names = append([]string(nil), s.Names...)
	s.Addresses = append([]string(nil), s.Addresses...)
	return s
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseKey(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want ECDSA", k)
	}
	return ec, nil
}

func encodeChain(der [][]byte) []byte {
	var b []byte
	for _, c := range der {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return b
}

// ReadIssuer returns the issuer URL the agent in s paired with.
func ReadIssuer(ctx context.Context, s Storage) (string, error) {
	st, err := loadState(ctx, s)
	if err != nil {
		return "", err
	}
	if st.creds == nil {
		return "", fmt.Errorf("%w (no %s in storage)", ErrNotPaired, keyCredentials)
	}
	return st.creds.Issuer, nil
}

// check reports what the credentials lack.
func (c *credentials) check() error {
	if c.Token == "" || c.Directory == "" || len(c.Names) == 0 || c.Issuer == "" {
		return errors.New("lacks access_token, directory, names or issuer")
	}
	return nil
}

// setPending records p, the code waiting for the owner (nil once there is
// none), for Pending and for `status`.
func (a *Agent) setPending(ctx context.Context, p *Pairing) {
	a.pending.Store(p)
	a.updateStatus(ctx, func(s *Status) {
		s.Pairing = nil
		if p != nil {
			s.Issuer, s.Label, s.Fingerprint = a.cfg.Issuer, p.Label, p.Fingerprint
			s.Pairing = &PairingStatus{UserCode: p.UserCode, VerificationURIComplete: p.VerificationURIComplete, Expires: p.Expires}
		}
	})
}

// SetHTTPSPort records the port the device's HTTPS server listens on, so
// that Status (and `status`) can give the device's https:// URLs, and the
// address reports tell the issuer, whose owner UI links to the device on
// it. It is stored with the next change of the status, by Run; call it
// before Run for the first report to carry it.
func (a *Agent) SetHTTPSPort(port string) {
	a.mu.Lock()
	a.status.HTTPSPort = port
	a.mu.Unlock()
}

// URLs are the device's https:// URLs: one per reported address, through
// its address-name, with the port unless it is 443.
func (s *Status) URLs() []string {
	if s.Label == "" || s.Zone == "" {
		return nil
	}
	var urls []string
	for _, a := range s.Addresses {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		u := "https://" + names.AddressName(ip, s.Label, s.Zone)
		if s.HTTPSPort != "" && s.HTTPSPort != "443" {
			u += ":" + s.HTTPSPort
		}
		urls = append(urls, u+"/")
	}
	return urls
}
