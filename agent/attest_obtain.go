package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mholt/acmez/v3/acme"
)

// The agent's side of draft-ietf-acme-device-attest, when Config.Attester
// is set: the order carries the attester's identifier, the agent answers
// the device-attest-01 challenge, and the certificate is for the
// attester's key.

// attestIdentifiers adds the attester's identifier, if any, to an order's.
func (a *Agent) attestIdentifiers(ids []acme.Identifier) []acme.Identifier {
	if a.cfg.Attester == nil {
		return ids
	}
	typ, value := a.cfg.Attester.Identifier()
	return append(ids, acme.Identifier{Type: typ, Value: value})
}

// newOrder places order. When the issuer refuses only the attester's
// identifier (attestation is off for the device's model, or the issuer
// does not know the draft), it orders again without it: the issuer, not
// the device, decides whether a device must attest.
func (a *Agent) newOrder(ctx context.Context, c *acme.Client, acct acme.Account, order acme.Order) (acme.Order, error) {
	o, err := c.NewOrder(ctx, acct, order)
	if err == nil || a.cfg.Attester == nil || !deviceIdentifierRefused(err) {
		return o, err
	}
	a.log.Warn("the issuer does not take this device's attestation; ordering without it", "err", err)
	order.Identifiers = slices.DeleteFunc(slices.Clone(order.Identifiers), func(id acme.Identifier) bool { return isDeviceIdentifier(id.Type) })
	return c.NewOrder(ctx, acct, order)
}

// deviceIdentifierRefused reports whether err is an ACME problem that
// refuses device identifiers and nothing else.
func deviceIdentifierRefused(err error) bool {
	var p acme.Problem
	if !errors.As(err, &p) || len(p.Subproblems) == 0 ||
		!strings.HasSuffix(p.Type, ":rejectedIdentifier") && !strings.HasSuffix(p.Type, ":unsupportedIdentifier") {
		return false
	}
	for _, sp := range p.Subproblems {
		if !isDeviceIdentifier(sp.Identifier.Type) {
			return false
		}
	}
	return true
}

func isDeviceIdentifier(typ string) bool {
	return typ == "permanent-identifier" || typ == "hardware-module"
}

// attestOrder answers the device-attest-01 challenge of every pending
// authorization of order with an attestation for its key authorization,
// and returns the order as it is then. Without an attester, or with
// nothing pending, it returns order as it is.
func (a *Agent) attestOrder(ctx context.Context, c *acme.Client, acct acme.Account, order acme.Order) (acme.Order, error) {
	if a.cfg.Attester == nil || order.Status != acme.StatusPending {
		return order, nil
	}
	for _, u := range order.Authorizations {
		authz, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			return order, fmt.Errorf("get authorization: %w", err)
		}
		if authz.Status != acme.StatusPending {
			continue
		}
		ch, ok := deviceAttestChallenge(authz)
		if !ok {
			return order, fmt.Errorf("authorization for %s %q is pending without a device-attest-01 challenge", authz.Identifier.Type, authz.Identifier.Value)
		}
		obj, err := a.cfg.Attester.Attest(ctx, ch.KeyAuthorization)
		if err != nil {
			return order, fmt.Errorf("attest: %w", err)
		}
		ch.Payload = map[string]string{"attObj": base64.RawURLEncoding.EncodeToString(obj)}
		if _, err := c.InitiateChallenge(ctx, acct, ch); err != nil {
			return order, fmt.Errorf("device attestation: %w", err)
		}
		a.log.Info("device attested", "identifier", authz.Identifier.Value)
	}
	order, err := c.GetOrder(ctx, acct, order)
	if err != nil {
		return order, fmt.Errorf("get order: %w", err)
	}
	return order, nil
}

func deviceAttestChallenge(authz acme.Authorization) (acme.Challenge, bool) {
	for _, ch := range authz.Challenges {
		if ch.Type == acme.ChallengeTypeDeviceAttest01 {
			return ch, true
		}
	}
	return acme.Challenge{}, false
}

// certificateKey is the key of a new certificate: the attester's, which
// never leaves its hardware, or else a fresh P-256 key.
func (a *Agent) certificateKey(ctx context.Context) (crypto.Signer, error) {
	if a.cfg.Attester != nil {
		k, err := a.cfg.Attester.Key(ctx)
		if err != nil {
			return nil, fmt.Errorf("attester's certificate key: %w", err)
		}
		return k, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate certificate key: %w", err)
	}
	return k, nil
}

// keyPair is the TLS certificate of chainPEM and key; a key in hardware
// is used through its crypto.Signer.
func keyPair(chainPEM []byte, key crypto.Signer) (*tls.Certificate, error) {
	if k, ok := key.(*ecdsa.PrivateKey); ok {
		cert, err := tls.X509KeyPair(chainPEM, mustEncodeKey(k))
		return &cert, err
	}
	cert := &tls.Certificate{PrivateKey: key}
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate in the chain")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("the certificate is not for the attester's key")
	}
	cert.Leaf = leaf
	return cert, nil
}

// hardwareKeyPEM is what the agent stores as tls.key for a key in
// hardware: only its public half, so that the stored chain is recognized
// as the attester's at the next start (attestedCertificate).
const hardwareKeyPEM = "LANTLS HARDWARE KEY"

// encodeCertificateKey is the tls.key of a certificate key.
func encodeCertificateKey(key crypto.PrivateKey) ([]byte, error) {
	if k, ok := key.(*ecdsa.PrivateKey); ok {
		return encodeKey(k)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certificate key is a %T", key)
	}
	spki, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: hardwareKeyPEM, Bytes: spki}), nil
}

// attestedCertificate loads the stored chain for the attester's key, if it
// is for that key; nil otherwise (the agent then gets a new one).
func (a *Agent) attestedCertificate(ctx context.Context) *tls.Certificate {
	chain, err := get(ctx, a.cfg.Storage, keyChain)
	if err != nil || chain == nil {
		return nil
	}
	key, err := a.cfg.Attester.Key(ctx)
	if err != nil {
		a.log.Warn("attester's key is not available; getting a new certificate", "err", err)
		return nil
	}
	cert, err := keyPair(chain, key)
	if err != nil {
		return nil
	}
	return cert
}
