package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mholt/acmez/v3/acme"
)

// acmeClient returns an ACME client for the paired issuer and the account
// registered with the pairing's EAB key, registering it first if needed.
func (a *Agent) acmeClient(ctx context.Context) (*acme.Client, acme.Account, error) {
	creds := a.credentials()
	c := a.newACMEClient(creds.Directory)
	acct := acme.Account{PrivateKey: a.accountKey(), Location: creds.AccountURL, TermsOfServiceAgreed: true}
	if acct.Location != "" {
		return c, acct, nil
	}
	hmac, err := decodeB64(creds.EABHMACKey)
	if err != nil {
		return nil, acct, fmt.Errorf("decode EAB key: %w", err)
	}
	if err := acct.SetExternalAccountBinding(ctx, c, acme.EAB{KeyID: creds.EABKID, MACKey: base64.RawURLEncoding.EncodeToString(hmac)}); err != nil {
		return nil, acct, fmt.Errorf("bind account: %w", err)
	}
	acct, err = c.NewAccount(ctx, acct)
	if err != nil {
		return nil, acct, fmt.Errorf("register account: %w", err)
	}
	next := *creds
	next.AccountURL = acct.Location
	if err := a.saveCredentials(ctx, &next); err != nil {
		return nil, acct, err
	}
	a.log.Info("registered ACME account", "account", acct.Location)
	return c, acct, nil
}

// obtain orders a certificate for the device's names with a fresh TLS key
// (never the account key); old, when set, is the certificate it replaces
// (RFC 9773 section 5).
func (a *Agent) obtain(ctx context.Context, old *x509.Certificate) (*tls.Certificate, error) {
	c, acct, err := a.acmeClient(ctx)
	if err != nil {
		return nil, err
	}
	names := a.credentials().Names
	order := acme.Order{Identifiers: make([]acme.Identifier, len(names))}
	for i, n := range names {
		order.Identifiers[i] = acme.Identifier{Type: "dns", Value: n}
	}
	order.Identifiers = a.attestIdentifiers(order.Identifiers)
	if old != nil {
		if order.Replaces, err = acme.ARIUniqueIdentifier(old); err != nil {
			return nil, fmt.Errorf("certificate ID for replaces: %w", err)
		}
	}
	order, err = a.newOrder(ctx, c, acct, order)
	if err != nil && old != nil && isProblem(err, "alreadyReplaced", "malformed", "notFound") {
		// The old certificate was replaced already (a crash after the
		// order) or the issuer forgot it: order without replaces.
		order.Replaces = ""
		order, err = c.NewOrder(ctx, acct, acme.Order{Identifiers: order.Identifiers})
	}
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	if order, err = a.attestOrder(ctx, c, acct, order); err != nil {
		return nil, err
	}
	if order.Status != acme.StatusReady {
		// Authorizations are valid at once for names a paired device owns;
		// anything else needs a challenge this agent does not solve.
		return nil, fmt.Errorf("new order: status %q, want %q (the issuer asks for a challenge this agent does not solve)", order.Status, acme.StatusReady)
	}
	key, err := a.certificateKey(ctx)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	order, err = c.FinalizeOrder(ctx, acct, order, csr)
	if err != nil {
		return nil, fmt.Errorf("finalize order: %w", err)
	}
	chains, err := c.GetCertificateChain(ctx, acct, order.Certificate)
	if err != nil {
		return nil, fmt.Errorf("download certificate: %w", err)
	}
	if len(chains) == 0 {
		return nil, errors.New("download certificate: empty answer")
	}
	cert, err := keyPair(chains[0].ChainPEM, key)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	return cert, nil
}

// revoke revokes cert through ACME revokeCert, signed with the account key
// (RFC 8555 section 7.6).
func (a *Agent) revoke(ctx context.Context, cert *x509.Certificate) error {
	c, acct, err := a.acmeClient(ctx)
	if err != nil {
		return err
	}
	// Reason 5: cessationOfOperation, the device is leaving.
	if err := c.RevokeCertificate(ctx, acct, cert, acct.PrivateKey, 5); err != nil && !isProblem(err, "alreadyRevoked") {
		return fmt.Errorf("revoke certificate %x: %w", cert.SerialNumber, err)
	}
	return nil
}

// fits reports whether cert can keep serving: it names exactly the
// device's names and has not expired.
func fits(cert *tls.Certificate, names []string, now time.Time) bool {
	if cert == nil || cert.Leaf == nil {
		return false
	}
	return now.Before(cert.Leaf.NotAfter) && slices.Equal(sorted(cert.Leaf.DNSNames), sorted(names))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func isProblem(err error, types ...string) bool {
	var p acme.Problem
	if !errors.As(err, &p) {
		return false
	}
	for _, t := range types {
		if strings.HasSuffix(p.Type, ":"+t) {
			return true
		}
	}
	return false
}

func mustEncodeKey(key *ecdsa.PrivateKey) []byte {
	b, err := encodeKey(key)
	if err != nil {
		panic(err) // a fresh P-256 key always encodes
	}
	return b
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// fmtSerial is a certificate's serial in lowercase hex, as status shows it.
func fmtSerial(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

func (a *Agent) newACMEClient(directory string) *acme.Client {
	return &acme.Client{Directory: directory, HTTPClient: a.httpc, UserAgent: "lantls-agent", PollInterval: 250 * time.Millisecond}
}
