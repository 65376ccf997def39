// Package ca defines how the issuer turns a checked request into a
// certificate chain. ca/local signs with a built-in name-constrained CA;
// ca/upstream brokers the CSR to a public ACME CA.
package ca

import (
	"context"
	"crypto/x509"
	"math/big"
	"time"
)

// Profile is a named certificate profile offered in the ACME directory.
type Profile struct {
	Name        string
	Description string
	Lifetime    time.Duration
}

// MaxLifetime is the longest lifetime any profile may ask for.
const MaxLifetime = 200 * 24 * time.Hour

// Profiles are the profiles the issuer offers; "default" is used when an
// order names none.
var Profiles = map[string]Profile{
	"default":    {Name: "default", Description: "47-day server certificate", Lifetime: 47 * 24 * time.Hour},
	"shortlived": {Name: "shortlived", Description: "160-hour server certificate", Lifetime: 160 * time.Hour},
}

// DefaultProfile is the profile of an order that names none.
const DefaultProfile = "default"

// Request is a certificate request the ACME front end has already checked:
// the CSR's signature is valid, its names equal Names, and the names belong
// to the ordering device.
type Request struct {
	CSR     *x509.CertificateRequest
	Names   []string // DNS names, normalized, wildcards as "*.x"
	Profile Profile
}

// Issued is a signed certificate and the chain to serve with it. It holds
// the few leaf fields the issuer records rather than a parsed leaf, which
// the local signer never needs to make; a signer that receives a chain from
// elsewhere parses its leaf to fill them.
type Issued struct {
	Serial    *big.Int
	NotBefore time.Time
	NotAfter  time.Time
	DER       []byte // the leaf
	ChainPEM  []byte // leaf first, then intermediates; never the root
}

// Signer turns a checked request into a certificate chain. Implementations
// must be safe for concurrent use and must not serialize callers around
// crypto.
type Signer interface {
	Sign(ctx context.Context, req Request) (*Issued, error)
}

// Metered is implemented by signers each of whose signatures costs more
// than CPU time: an upstream CA, where a signature is an order there and a
// place under its rate limits. The ACME front end claims an order before
// it asks a metered signer, so that two concurrent finalizes of one order
// never both sign. Other signers are asked first, and a certificate that
// loses such a race is dropped before anyone sees it.
type Metered interface {
	Signer
	Metered() bool
}

// IsMetered reports whether s is a metered signer.
func IsMetered(s Signer) bool {
	m, ok := s.(Metered)
	return ok && m.Metered()
}
