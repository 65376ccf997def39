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
	"time"
)

// Storage keys. Every one may be secret.
const (
	keyAccount     = "account.key"      // the ACME account key, which also paired
	keyCredentials = "credentials.json" // bearer token, EAB, names
	keyTLS         = "tls.key"          // the certificate's key, never the account key
	keyChain       = "chain.pem"        // leaf first
	keyStatus      = "status.json"      // renewal times, failures, last error
)

// stateKeys are all keys the agent writes, for Reset.
var stateKeys = []string{keyChain, keyTLS, keyStatus, keyCredentials, keyAccount}

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
}

// Status is what `lantls agent status` shows; the agent keeps it in its
// storage so another process can read it.
type Status struct {
	Label       string    `json:"label,omitempty"`
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
	HookSerial string    `json:"hook_serial,omitempty"`
	Addresses  []string  `json:"addresses,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// state is everything loaded from storage.
type state struct {
	accountKey *ecdsa.PrivateKey
	creds      *credentials
	cert       *tls.Certificate
	status     Status
}

func loadState(ctx context.Context, s Storage) (*state, error) {
	st := &state{}
	if b, err := get(ctx, s, keyAccount); err != nil {
		return nil, err
	} else if b != nil {
		if st.accountKey, err = parseKey(b); err != nil {
			return nil, fmt.Errorf("agent: %s: %w", keyAccount, err)
		}
	}
	if b, err := get(ctx, s, keyCredentials); err != nil {
		return nil, err
	} else if b != nil {
		st.creds = &credentials{}
		if err := json.Unmarshal(b, st.creds); err != nil {
			return nil, fmt.Errorf("agent: %s: %w", keyCredentials, err)
		}
	}
	if b, err := get(ctx, s, keyStatus); err != nil {
		return nil, err
	} else if b != nil {
		if err := json.Unmarshal(b, &st.status); err != nil {
			return nil, fmt.Errorf("agent: %s: %w", keyStatus, err)
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
	if chain != nil && tlsKey != nil {
		// A chain that does not load is treated as absent: the agent gets
		// a new one rather than refusing to start.
		if c, err := tls.X509KeyPair(chain, tlsKey); err == nil {
			st.cert = &c
		}
	}
	return st, nil
}

// ReadStatus reads the status a running or stopped agent left in s.
func ReadStatus(ctx context.Context, s Storage) (*Status, error) {
	st, err := loadState(ctx, s)
	if err != nil {
		return nil, err
	}
	if st.creds == nil {
		return nil, fmt.Errorf("agent: not paired (no %s in storage)", keyCredentials)
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
	a.status.Label = c.Label
	a.status.Names = c.Names
	return nil
}

// saveCertificate stores cert (key first, so a crash between the two
// writes leaves a chain that does not match its key, which load ignores,
// rather than a chain with no key).
func (a *Agent) saveCertificate(ctx context.Context, cert *tls.Certificate) error {
	keyPEM, err := encodeKey(cert.PrivateKey.(*ecdsa.PrivateKey))
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
		return "", fmt.Errorf("agent: not paired (no %s in storage)", keyCredentials)
	}
	return st.creds.Issuer, nil
}
