package store

import "time"

// Statuses of a pairing (package pairing, RFC 8628). A pairing is pending
// until its owner approves or denies it, and an approved one is redeemed
// when the device collects its credentials, which it can do once. Expiry
// is not a status: a pending pairing past Expires is expired.
const (
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusRedeemed Status = "redeemed"
)

// Pairing is one run of the device authorization grant (RFC 8628): a device
// asked to pair with its account key, and the owner who entered its user
// code approved or denied it.
type Pairing struct {
	ID string
	// DeviceCodeHash is the hex SHA-256 of the device code; the code itself
	// is a bearer secret and never stored.
	DeviceCodeHash string
	// UserCode is the code the owner enters, normalized: 8 characters of
	// BCDFGHJKLMNPQRSTVWXZ without the dash.
	UserCode string
	// UserCodeHash is the hex SHA-256 of UserCode, the key it is looked up
	// by, so that the lookup's timing depends on nothing a guesser chose.
	UserCodeHash string
	ClientID     string
	Model        string // as the device reported it
	Hostname     string // as the device reported it
	// KeyJWK is the device's ACME account key (public JWK as JSON); the
	// device's label and the key its account must use follow from it.
	KeyJWK        []byte
	KeyThumbprint string // RFC 7638
	Label         string // names.Label of the key's SubjectPublicKeyInfo
	Source        string // the client address that asked to pair
	Status        Status // pending, approved, denied or redeemed
	// Interval is how long the device must wait between polls; it grows
	// by 5 s with each slow_down (RFC 8628 section 3.5).
	Interval time.Duration
	OwnerID  string // the owner who approved (or denied) it; "" while pending
	DeviceID string // the device made on approval
	Actor    string // who decided, e.g. a user name
	// LastPolled is the time of the device's last poll of the token
	// endpoint; zero before the first.
	LastPolled time.Time
	CreatedAt  time.Time
	Expires    time.Time
	DecidedAt  time.Time // zero while pending
	RedeemedAt time.Time // zero until redeemed
}

// Expired reports whether p is still pending at now but past its expiry.
func (p *Pairing) Expired(now time.Time) bool {
	return p.Status == StatusPending && !now.Before(p.Expires)
}

// PairingFilter selects pairings in ListPairings.
type PairingFilter struct {
	// OwnerID selects the pairings an owner decided; empty selects all.
	OwnerID string
}

// Token is a device's bearer token for the device API (RFC 6750). Only its
// hash is kept: the token is shown to the device once, when it redeems its
// pairing or rotates the token.
type Token struct {
	ID        string
	Hash      string // hex SHA-256 of the token
	DeviceID  string
	CreatedAt time.Time
	Expires   time.Time // zero: never
	RevokedAt time.Time // zero unless revoked
}

// Valid reports whether t may be used at now.
func (t *Token) Valid(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.Expires.IsZero() || now.Before(t.Expires))
}

// Grants are the web origins allowed to call a device from a browser
// (CORS and Local Network Access), e.g. "https://app.vendor.example".
type Grants struct {
	DeviceID  string
	Origins   []string
	UpdatedAt time.Time // zero if never set
}

// AuditEntry is one line of an owner's audit log: a login, an approval, a
// denial, an issuance, a revocation, an unpair, ...
type AuditEntry struct {
	ID        string
	OwnerID   string // whose log it is in; "" for the issuer's own
	Actor     string // who did it: a user name, "cli", "device LABEL", ...
	Action    string // see the Audit* constants of package devices
	DeviceID  string // the device concerned, if any
	Detail    string
	CreatedAt time.Time
}

// AuditFilter selects audit entries in ListAudit.
type AuditFilter struct {
	OwnerID string // empty: every owner's
	// Before, if set, lists only entries with an ID before it, for paging
	// from newest to oldest.
	Before string
	Limit  int // at most this many; 0 means 100
}
