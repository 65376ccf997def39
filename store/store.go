// Package store defines the persistent state of the issuer: the Store
// interface with transactions, and the domain types it holds. Callers depend
// only on this package; store/sqlite (embedded, default) and store/postgres
// (many issuer instances) implement it, and store/storetest is the one
// conformance suite both must pass.
//
// Rules every implementation keeps:
//   - times are returned in UTC, truncated to the microsecond;
//   - a missing row is ErrNotFound, a broken uniqueness or a failed
//     precondition (e.g. a status that is no longer the expected one) is
//     ErrConflict, both wrapped so that errors.Is works;
//   - a reference to a row that does not exist (a device of an unknown
//     owner, an order of an unknown account, ...) is ErrNotFound too;
//   - methods called on the Store run each in their own transaction; Update
//     runs several in one read-write transaction that commits only if fn
//     returns nil;
//   - Create methods fill an empty ID with a random one and a zero
//     CreatedAt with the current time, and write both back into the value
//     passed; CreateOrder also sets each authorization's OrderID, an empty
//     AccountID to the order's, and a nil AuthorizationIDs from authzs. A
//     zero time given to UseEABKey, DisableDeviceEABKeys or
//     RevokeCertificate means now;
//   - List methods return an empty, non-nil slice when nothing matches.
//     Slices inside values read back as written, nil as nil and empty as
//     empty; only a []byte that was empty may read back as nil.
package store

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/lantls/lantls/problem"
)

// Errors every implementation returns (wrapped) for the cases above.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Store is the issuer's persistent state.
type Store interface {
	Tx
	// Update runs fn in one read-write transaction. fn must not keep tx
	// after it returns; fn may be retried, so it must have no side effects
	// outside tx. fn must make its calls on tx, not on the Store: a write
	// on the Store would wait for fn's transaction to end.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the store's resources.
	Close() error
}

// Tx is the set of operations on the state, alone or inside Update.
type Tx interface {
	// EnsureOwner returns the owner named name, creating it if missing.
	EnsureOwner(ctx context.Context, name string) (*Owner, error)
	GetOwner(ctx context.Context, id string) (*Owner, error)
	GetOwnerByName(ctx context.Context, name string) (*Owner, error)

	CreateDevice(ctx context.Context, d *Device) error
	GetDevice(ctx context.Context, id string) (*Device, error)
	GetDeviceByLabel(ctx context.Context, label string) (*Device, error)
	// ListDevices returns devices oldest first; an empty OwnerID lists all.
	ListDevices(ctx context.Context, f DeviceFilter) ([]*Device, error)
	// UpdateDevice writes Name, Status, KeyThumbprint and RevokedAt.
	UpdateDevice(ctx context.Context, d *Device) error
	// ListDeviceSummaries returns a page of devices with what a device
	// list shows of each (certificates, status, short name, addresses),
	// newest first, in one query.
	ListDeviceSummaries(ctx context.Context, f DeviceSummaryFilter) ([]*DeviceSummary, error)

	CreateEABKey(ctx context.Context, k *EABKey) error
	GetEABKey(ctx context.Context, kid string) (*EABKey, error)
	// UseEABKey marks an unused key as used by accountID; a key that is
	// already used, or disabled, is ErrConflict.
	UseEABKey(ctx context.Context, kid, accountID string, at time.Time) error
	// DisableDeviceEABKeys makes every unused key of a device unusable.
	DisableDeviceEABKeys(ctx context.Context, deviceID string, at time.Time) error

	// CreateAccount fails with ErrConflict if KeyThumbprint is in use.
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, id string) (*Account, error)
	GetAccountByThumbprint(ctx context.Context, thumbprint string) (*Account, error)
	// UpdateAccount writes Status, Contact, KeyThumbprint and KeyJWK; a
	// thumbprint used by another account is ErrConflict.
	UpdateAccount(ctx context.Context, a *Account) error
	ListAccountsByDevice(ctx context.Context, deviceID string) ([]*Account, error)

	// CreateOrder stores an order and its authorizations together.
	CreateOrder(ctx context.Context, o *Order, authzs []*Authorization) error
	GetOrder(ctx context.Context, id string) (*Order, error)
	// UpdateOrder writes Status, Error and CertificateSerial, but only if the
	// stored status is still expect; otherwise ErrConflict.
	UpdateOrder(ctx context.Context, o *Order, expect Status) error
	// FailProcessingOrders makes every processing order invalid with the
	// problem p and returns how many it changed. It is for an issuer's
	// start-up, when no other instance can be signing: an order left
	// processing by a crash would otherwise wait for its expiry.
	FailProcessingOrders(ctx context.Context, p *problem.Error) (int, error)
	// ListOrderIDs returns up to limit order IDs of an account, oldest
	// first, after the ID after ("" for the start).
	ListOrderIDs(ctx context.Context, accountID, after string, limit int) ([]string, error)
	// CountOpenOrders counts an account's pending, ready and processing
	// orders that expire after now, and returns the earliest of their
	// expiries (zero when there are none): when one of them frees its
	// place at the latest.
	CountOpenOrders(ctx context.Context, accountID string, now time.Time) (n int, firstExpiry time.Time, err error)
	GetAuthorization(ctx context.Context, id string) (*Authorization, error)
	// UpdateAuthorization writes Status and Challenges.
	UpdateAuthorization(ctx context.Context, a *Authorization) error

	// CreateCertificate records an issued certificate; a duplicate serial is
	// ErrConflict.
	CreateCertificate(ctx context.Context, c *Certificate) error
	GetCertificate(ctx context.Context, serial string) (*Certificate, error)
	// ListCertificates returns a device's certificates, oldest first.
	ListCertificates(ctx context.Context, deviceID string) ([]*Certificate, error)
	// RevokeCertificate marks a certificate revoked; one already revoked is
	// ErrConflict.
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) error
	// SetCertificateReplacedBy records that orderID replaces serial (RFC
	// 9773); it overwrites any earlier value.
	SetCertificateReplacedBy(ctx context.Context, serial, orderID string) error
	// ListRevoked returns every revoked certificate that has not expired at
	// now, for the CRL.
	ListRevoked(ctx context.Context, now time.Time) ([]RevokedCertificate, error)

	// ConsumeNonce records a nonce as used until expires; a nonce used
	// before is ErrConflict.
	ConsumeNonce(ctx context.Context, nonce string, expires time.Time) error
	// Secret returns the secret stored under name, storing value first if
	// there is none, so that every instance agrees on one value.
	Secret(ctx context.Context, name string, value []byte) ([]byte, error)

	// LimitTAT returns the theoretical arrival time stored for the rate
	// limit key (see package ratelimit), or the zero time if there is none.
	LimitTAT(ctx context.Context, key string) (time.Time, error)
	// SetLimitTAT stores key's theoretical arrival time; a zero tat
	// deletes it.
	SetLimitTAT(ctx context.Context, key string, tat time.Time) error

	// Sweep deletes used nonces that expired before now and rate-limit
	// times before now, and makes pending or ready orders (and their
	// pending authorizations) that expired before now invalid. It returns
	// how many rows it changed.
	Sweep(ctx context.Context, now time.Time) (int, error)

	// --- dns ---
	// SetDeviceAddresses replaces the addresses a device last reported; an
	// empty list clears them. An unknown device is ErrNotFound.
	SetDeviceAddresses(ctx context.Context, deviceID string, addrs []netip.Addr) error
	// SetDevicePort sets the TCP port the device serves HTTPS on, as it
	// reported it with its addresses; 0 means not reported, i.e. 443. An
	// unknown device is ErrNotFound.
	SetDevicePort(ctx context.Context, deviceID string, port int) error
	// SetDevicePublish sets a device's choice about publishing L.Z; an
	// unknown device is ErrNotFound.
	SetDevicePublish(ctx context.Context, deviceID string, p Publish) error
	// GetDeviceDNS returns a device's addresses and publish choice (none
	// and PublishDefault for a device that never set them).
	GetDeviceDNS(ctx context.Context, deviceID string) (*DeviceDNS, error)
	// PutTXT adds the TXT record (name, value) valid until expires, or
	// moves the expiry of the one already there. name is fully qualified,
	// lowercase, without the trailing dot. It also forgets records that
	// expired.
	PutTXT(ctx context.Context, name, value string, expires time.Time) error
	// DeleteTXT removes the TXT record (name, value); deleting one that is
	// not there is no error.
	DeleteTXT(ctx context.Context, name, value string) error
	// DNSVersion returns the DNS change counter: it grows with every
	// commit that changes what the DNS serves (a device created, its
	// status changed or deleted, its addresses, publish choice or short
	// name set, a TXT record put or deleted), and never goes back. Cheap: the DNS index
	// of every issuer on the store polls it.
	DNSVersion(ctx context.Context) (int64, error)
	// DNSSnapshot returns what the DNS serves: every active device with
	// its addresses and choice, the TXT records that have not expired at
	// now, and the change counter read before them.
	DNSSnapshot(ctx context.Context, now time.Time) (*DNSSnapshot, error)
	// DNSChanges returns the devices whose DNS data changed after the
	// counter value since, with every TXT record unexpired at now and the
	// counter read first: a DNS index that holds the state as of since
	// applies it to get the state as of the delta's Version. Its cost
	// grows with the changes, not with the devices.
	DNSChanges(ctx context.Context, since int64, now time.Time) (*DNSDelta, error)

	// --- web ---

	// CreateUser stores u, filling an empty ID and a zero CreatedAt; a
	// name in use is ErrConflict, an unknown OwnerID ErrNotFound.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByName(ctx context.Context, name string) (*User, error)
	// ListUsers returns every user, oldest first.
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser writes Role and PasswordHash.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user id with its sessions and passkeys; the
	// owner it acted for, and that owner's devices, stay. A missing user
	// is ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
	// CreateSession stores s, filling a zero CreatedAt; an ID in use is
	// ErrConflict.
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	// DeleteSession removes a session; a missing one is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessions removes every session of a user, and every session of
	// any user that expired before now; it returns how many it removed.
	DeleteSessions(ctx context.Context, userID string, now time.Time) (int, error)
	// CreatePasskey stores p, filling a zero CreatedAt; a credential ID in
	// use is ErrConflict.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// ListPasskeys returns a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]*Passkey, error)
	// UpdatePasskey writes Data and LastUsedAt of the passkey p.ID.
	UpdatePasskey(ctx context.Context, p *Passkey) error
	// DeletePasskey removes the passkey id of userID; none is ErrNotFound.
	DeletePasskey(ctx context.Context, userID string, id []byte) error

	// --- pairing ---

	// CreatePairing stores p, filling an empty ID and a zero CreatedAt; a
	// DeviceCodeHash or UserCodeHash in use is ErrConflict.
	CreatePairing(ctx context.Context, p *Pairing) error
	GetPairing(ctx context.Context, id string) (*Pairing, error)
	GetPairingByDeviceCode(ctx context.Context, deviceCodeHash string) (*Pairing, error)
	GetPairingByUserCode(ctx context.Context, userCodeHash string) (*Pairing, error)
	// UpdatePairing writes Status, Interval, OwnerID, DeviceID, Actor,
	// LastPolled, Expires, DecidedAt and RedeemedAt, but only if the stored
	// status is still expect; otherwise ErrConflict.
	UpdatePairing(ctx context.Context, p *Pairing, expect Status) error
	// ListPairings returns pairings oldest first.
	ListPairings(ctx context.Context, f PairingFilter) ([]*Pairing, error)
	// DeletePairings deletes pairings that expired before before and
	// returns how many.
	DeletePairings(ctx context.Context, before time.Time) (int, error)

	// CreateToken stores t, filling an empty ID and a zero CreatedAt; a
	// Hash in use is ErrConflict.
	CreateToken(ctx context.Context, t *Token) error
	GetTokenByHash(ctx context.Context, hash string) (*Token, error)
	// RevokeDeviceTokens revokes every unrevoked token of a device at at
	// (now if zero) and returns how many.
	RevokeDeviceTokens(ctx context.Context, deviceID string, at time.Time) (int, error)

	// SetGrants replaces a device's origin grants, filling a zero
	// UpdatedAt with now; an unknown device is ErrNotFound.
	SetGrants(ctx context.Context, g *Grants) error
	// GetGrants returns a device's grants, Origins never nil: empty, with
	// a zero UpdatedAt, if none were ever set.
	GetGrants(ctx context.Context, deviceID string) (*Grants, error)

	// AddAudit stores e, filling an empty ID and a zero CreatedAt.
	AddAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns audit entries newest first, unlike other lists: a
	// log is read from its end.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)

	// --- upstream ---
	// PutUpstreamOrder stores u, replacing the one of the same OrderID; a
	// zero CreatedAt is set to now. An unknown order is ErrNotFound.
	PutUpstreamOrder(ctx context.Context, u *UpstreamOrder) error
	// GetUpstreamOrder returns the upstream work of our order orderID.
	GetUpstreamOrder(ctx context.Context, orderID string) (*UpstreamOrder, error)
	// DeleteUpstreamOrder removes the upstream work of orderID; removing
	// one that is not there is no error.
	DeleteUpstreamOrder(ctx context.Context, orderID string) error
	// ListUpstreamOrders returns all upstream work, oldest first.
	ListUpstreamOrders(ctx context.Context) ([]*UpstreamOrder, error)

	// --- status ---
	// SetDeviceStatus replaces what a device last reported, filling a zero
	// UpdatedAt with now; an unknown device is ErrNotFound.
	SetDeviceStatus(ctx context.Context, s *DeviceStatus) error
	// GetDeviceStatus returns what a device last reported: empty, with
	// zero times, if it never reported.
	GetDeviceStatus(ctx context.Context, deviceID string) (*DeviceStatus, error)
	// SetDeviceNameCheck replaces the device's last name check, leaving
	// the rest of its status; an unknown device is ErrNotFound.
	SetDeviceNameCheck(ctx context.Context, deviceID string, c NameCheck) error

	// --- names ---
	// SetDeviceShortName gives a device its short name, replacing any; a
	// zero ShortName removes it. A name another device has is
	// ErrConflict; an unknown device is ErrNotFound.
	SetDeviceShortName(ctx context.Context, deviceID string, n ShortName) error
	// GetDeviceShortName returns a device's short name, zero if none.
	GetDeviceShortName(ctx context.Context, deviceID string) (ShortName, error)

	// --- attestation ---
	// SetAttestPolicy stores the rule of p.Model, replacing any, filling a
	// zero UpdatedAt with now.
	SetAttestPolicy(ctx context.Context, p *AttestPolicy) error
	// GetAttestPolicy returns the rule of model; none is ErrNotFound.
	GetAttestPolicy(ctx context.Context, model string) (*AttestPolicy, error)
	// DeleteAttestPolicy removes the rule of model; none is no error.
	DeleteAttestPolicy(ctx context.Context, model string) error
	// ListAttestPolicies returns every rule, by model.
	ListAttestPolicies(ctx context.Context) ([]*AttestPolicy, error)
	// SetDeviceAttestation replaces the last attestation of a device,
	// filling a zero AttestedAt with now; an unknown device is ErrNotFound.
	SetDeviceAttestation(ctx context.Context, a *DeviceAttestation) error
	// GetDeviceAttestation returns the last attestation a device passed;
	// none is ErrNotFound.
	GetDeviceAttestation(ctx context.Context, deviceID string) (*DeviceAttestation, error)
}

// Status is the state of an account, order, authorization, challenge or
// device, spelled as on the ACME wire.
type Status string

// Statuses of RFC 8555 section 7.1.6, and of devices.
const (
	StatusPending     Status = "pending"
	StatusReady       Status = "ready"
	StatusProcessing  Status = "processing"
	StatusValid       Status = "valid"
	StatusInvalid     Status = "invalid"
	StatusDeactivated Status = "deactivated"
	StatusExpired     Status = "expired"
	StatusRevoked     Status = "revoked"
	// StatusActive is a device that may get certificates.
	StatusActive Status = "active"
	// StatusRemoved is a revoked (unpaired) device its owner took off the
	// device list; its history stays.
	StatusRemoved Status = "removed"
)

// Owner is a person or organization that owns devices.
type Owner struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Device is one device of an owner. Its Label fixes its names forever.
type Device struct {
	ID      string
	Label   string
	OwnerID string
	Name    string // shown to the owner, e.g. "Living room TV"
	Model   string // reported at pairing; empty for stock clients
	// KeyThumbprint is the RFC 7638 thumbprint of the account key that
	// paired the device; empty for devices made for stock ACME clients,
	// whose first account may use any key.
	KeyThumbprint string
	Status        Status // active or revoked
	CreatedAt     time.Time
	RevokedAt     time.Time // zero unless revoked
}

// DeviceFilter selects devices in ListDevices.
type DeviceFilter struct {
	OwnerID string
}

// EABKey is an external account binding key (RFC 8555 section 7.3.4) that
// lets exactly one ACME account bind itself to a device.
type EABKey struct {
	KID       string
	DeviceID  string
	HMACKey   []byte
	CreatedAt time.Time
	UsedAt    time.Time // zero while unused
	AccountID string    // set when used
	Disabled  bool
}

// Account is an ACME account bound to a device.
type Account struct {
	ID            string
	DeviceID      string
	KeyThumbprint string
	KeyJWK        []byte // the public JWK as JSON
	Contact       []string
	Status        Status // valid, deactivated or revoked
	EABKID        string
	CreatedAt     time.Time
}

// Identifier is an ACME identifier.
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Order is an ACME order.
type Order struct {
	ID                string
	AccountID         string
	DeviceID          string
	Status            Status
	Identifiers       []Identifier
	AuthorizationIDs  []string
	Profile           string
	Replaces          string // serial of the certificate this order replaces
	Expires           time.Time
	CreatedAt         time.Time
	CertificateSerial string         // set when valid
	Error             *problem.Error // set when invalid
}

// Authorization is an ACME authorization.
type Authorization struct {
	ID         string
	AccountID  string
	OrderID    string
	Identifier Identifier // the name without "*." for wildcards
	Wildcard   bool
	Status     Status
	Expires    time.Time
	Challenges []Challenge
}

// Challenge is one way to prove control of an identifier.
type Challenge struct {
	Type      string         `json:"type"`
	Token     string         `json:"token"`
	Status    Status         `json:"status"`
	Validated time.Time      `json:"validated,omitzero"`
	Error     *problem.Error `json:"error,omitempty"`
	// AttestedKey is the PKIX DER of the key a valid device-attest-01
	// challenge attested: the certificate request must carry it.
	AttestedKey []byte `json:"attestedKey,omitempty"`
}

// DNSNames are the values of the order's dns identifiers: the names its
// certificate is for. The device identifiers of
// draft-ietf-acme-device-attest are proven, never put in certificates.
func (o *Order) DNSNames() []string {
	out := make([]string, 0, len(o.Identifiers))
	for _, id := range o.Identifiers {
		if id.Type == "dns" {
			out = append(out, id.Value)
		}
	}
	return out
}

// Certificate is an issued certificate, recorded before it is returned.
type Certificate struct {
	Serial     string // lowercase hex, no leading zeros; the ID in URLs
	DeviceID   string
	AccountID  string
	OrderID    string
	Names      []string
	Profile    string
	NotBefore  time.Time
	NotAfter   time.Time
	ChainPEM   []byte // leaf first
	CreatedAt  time.Time
	RevokedAt  time.Time // zero unless revoked
	Reason     int       // RFC 5280 reason code when revoked
	ReplacedBy string    // ID of the order that replaces it (RFC 9773)
}

// Revoked reports whether c has been revoked.
func (c *Certificate) Revoked() bool { return !c.RevokedAt.IsZero() }

// RevokedCertificate is one CRL entry.
type RevokedCertificate struct {
	Serial    string
	RevokedAt time.Time
	Reason    int
}
