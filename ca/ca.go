// Package ca defines how the issuer turns a checked request into a
// certificate chain. ca/local signs with a built-in name-constrained CA;
// ca/upstream brokers the CSR to a public ACME CA.
package ca

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"

	"github.com/lantls/lantls/store"
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
	// Replaces is the leaf (DER) of the certificate this one renews
	// (RFC 9773 replaces), or nil.
	Replaces []byte
	// Extra are names the owner gave the device (its short name, tv.Z,
	// and tv.local where asked), for a NameAdder to put beside Names. The
	// front end fills it only with names the signer's AddsName accepts.
	Extra []string
}

// NameAdder is implemented by signers that put the names an owner gave a
// device (Request.Extra) in its certificates beside the ordered ones: the
// local signer. The upstream signer proves only L.Z and *.L.Z and does
// not implement it.
type NameAdder interface {
	// AddsName reports whether the signer would sign name (normalized)
	// as an extra name: in its zone, or permitted by the name constraints
	// of its root and intermediate.
	AddsName(name string) bool
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

// Certificate is the store's record of i, issued for order o with names
// and profile at now.
func (i *Issued) Certificate(o *store.Order, names []string, profile string, now time.Time) *store.Certificate {
	return &store.Certificate{
		Serial:    fmt.Sprintf("%x", i.Serial),
		DeviceID:  o.DeviceID,
		AccountID: o.AccountID,
		OrderID:   o.ID,
		Names:     names,
		Profile:   profile,
		NotBefore: i.NotBefore.UTC(),
		NotAfter:  i.NotAfter.UTC(),
		ChainPEM:  i.ChainPEM,
		CreatedAt: now,
	}
}

// Record records cert, issued for order o, inside tx: the certificate,
// the order moved from the status from to valid (o changed to match), and
// an entry in the owner's audit log, whose detail ends with source (e.g.
// " from the upstream CA"). It refuses with a problem of kind
// Unauthorized, before writing anything, when o's device is no longer
// active. The issuer has one, devices.RecordCertificate: the ACME front
// end records with it, and hands it to a signer that finishes orders
// itself (Queued), so that a signer only signs.
type Record func(ctx context.Context, tx store.Tx, o *store.Order, from store.Status, cert *store.Certificate, source string) error

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

// Queued is a metered signer that signs in the background, for a CA whose
// answer can take minutes or wait on a rate limit. The ACME front end
// claims the order (ready -> processing) and, in the same transaction,
// hands the request to Enqueue, so that a crash either keeps both or
// neither; the signer then records the certificate with the Record it was
// given, or makes the order invalid.
type Queued interface {
	Metered
	// Enqueue stores req as the work of signing order orderID inside tx.
	// It may refuse with a problem (rateLimited with a true Retry-After
	// when the signer's own budget is spent); then the order stays ready.
	Enqueue(ctx context.Context, tx store.Tx, orderID string, req Request) error
	// Wait wakes the signer for orderID's work and returns when the work
	// has ended, with the problem the order failed with (nil if it is
	// valid), or when ctx is done (then ctx's error).
	Wait(ctx context.Context, orderID string) error
}

// Revoker is implemented by signers whose certificates are revoked
// elsewhere too: an upstream CA is told before the issuer records the
// revocation.
type Revoker interface {
	Revoke(ctx context.Context, leafDER []byte, reason int) error
}

// RenewalAdvisor is implemented by signers that know when their
// certificates should be renewed better than their lifetimes tell: an
// upstream CA's ARI window (RFC 9773) is what the issuer's own answers.
type RenewalAdvisor interface {
	RenewalWindow(ctx context.Context, leafDER []byte) (start, end time.Time, err error)
}
