// Package keypolicy is the one rule for which public keys lantls accepts,
// after Boulder's goodkey: the ACME front end applies it to account keys
// and every signer to certificate keys, each failing with the ACME problem
// type RFC 8555 names for that use (badPublicKey for a JWS key, section
// 6.7; badCSR for a CSR key, section 7.4).
package keypolicy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"slices"
	"strings"

	"github.com/lantls/lantls/problem"
)

// Policy says which keys are acceptable. Its zero value is Default.
type Policy struct {
	// MinRSABits and MaxRSABits bound RSA moduli; zero means 2048 and
	// 4096, as Boulder's goodkey. Larger keys only make every handshake
	// with a device slower, and go-jose reads no larger JWK.
	MinRSABits, MaxRSABits int
	// Curves are the accepted ECDSA curves; nil means P-256 and P-384,
	// the curves of ES256 and ES384 (RFC 7518 section 3.4) and of the
	// certificates browsers accept.
	Curves []elliptic.Curve
	// NoEd25519Accounts refuses Ed25519 account keys (JWS alg EdDSA, RFC
	// 8037), which are accepted otherwise. Ed25519 certificate keys are
	// always refused: browsers do not accept Ed25519 certificates.
	NoEd25519Accounts bool
}

// Default is the policy lantls runs with: RSA 2048 to 4096 bits, ECDSA
// P-256 and P-384, and Ed25519 for account keys only.
var Default = Policy{}

// AccountKey checks an account key, as sent in a JWS jwk header: a
// badPublicKey problem if it is not acceptable.
func (p Policy) AccountKey(pub crypto.PublicKey) error {
	if _, ok := pub.(ed25519.PublicKey); ok && !p.NoEd25519Accounts {
		return nil
	}
	if err := p.check(pub); err != nil {
		return problem.New(problem.BadPublicKey, "account key: %v", err)
	}
	return nil
}

// CertificateKey checks a certificate key, as sent in a CSR: a badCSR
// problem if it is not acceptable.
func (p Policy) CertificateKey(pub crypto.PublicKey) error {
	if err := p.check(pub); err != nil {
		return problem.BadCSRErr("certificate key: %v", err)
	}
	return nil
}

// check applies the rules both uses share.
func (p Policy) check(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if slices.Contains(p.curves(), k.Curve) {
			return nil
		}
		return fmt.Errorf("ECDSA curve %s is not accepted; use %s", k.Curve.Params().Name, p.curveNames())
	case *rsa.PublicKey:
		lo, hi := p.rsaBounds()
		if bits := k.N.BitLen(); bits < lo || bits > hi {
			return fmt.Errorf("RSA key has %d bits; %d to %d are accepted", bits, lo, hi)
		}
		return nil
	case ed25519.PublicKey:
		return fmt.Errorf("Ed25519 is not accepted here; use ECDSA %s or RSA", p.curveNames())
	}
	return fmt.Errorf("key type %T is not accepted; use ECDSA %s or RSA", pub, p.curveNames())
}

func (p Policy) curves() []elliptic.Curve {
	if p.Curves == nil {
		return []elliptic.Curve{elliptic.P256(), elliptic.P384()}
	}
	return p.Curves
}

func (p Policy) curveNames() string {
	var names []string
	for _, c := range p.curves() {
		names = append(names, c.Params().Name)
	}
	return strings.Join(names, " or ")
}

func (p Policy) rsaBounds() (lo, hi int) {
	lo, hi = p.MinRSABits, p.MaxRSABits
	if lo == 0 {
		lo = 2048
	}
	if hi == 0 {
		hi = 4096
	}
	return lo, hi
}
