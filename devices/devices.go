// Package devices is the owner-facing life cycle of a device: add one (with
// an EAB key for a stock ACME client), list them, rename, revoke or unpair
// one, set its origin grants, and the owners' audit log. The admin CLI, the
// owner UI and pairing all go through it, so a device is made and unmade
// the same way everywhere, and every function that acts on one device
// checks that the actor may (owner.go).
package devices

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// ReasonCessationOfOperation is the RFC 5280 reason given to certificates
// of a device its owner revokes.
const ReasonCessationOfOperation = 5

// Credentials are what a stock ACME client needs to get a device's
// certificate. HMACKey is secret: show it once, never log it.
type Credentials struct {
	Device *store.Device
	Owner  *store.Owner
	Names  []string
	KID    string
	// HMACKey is base64url without padding, as certbot and lego take it.
	HMACKey string
}

// ErrTooManyDevices is the error of adding a device to an owner that has
// as many active devices as the issuer allows one owner.
var ErrTooManyDevices = errors.New("this owner has as many devices as the issuer allows: unpair one first, or ask the operator")

// CheckRoom returns ErrTooManyDevices, wrapped with the numbers, if
// ownerID has max or more active devices; max 0 means no limit. Call it
// inside the transaction that adds the device.
func CheckRoom(ctx context.Context, tx store.Tx, ownerID string, max int) error {
	if max <= 0 {
		return nil
	}
	ds, err := tx.ListDevices(ctx, store.DeviceFilter{OwnerID: ownerID})
	if err != nil {
		return err
	}
	n := 0
	for _, d := range ds {
		if d.Status == store.StatusActive {
			n++
		}
	}
	if n >= max {
		return fmt.Errorf("%w (%d active, at most %d)", ErrTooManyDevices, n, max)
	}
	return nil
}

// Add creates a device for owner (created if missing) with a random label
// and one unused EAB key bound to it. It is the operator's command, with
// no limit on devices; AddLimited is the owners'.
func Add(ctx context.Context, st store.Store, zone, owner, name string, now time.Time) (*Credentials, error) {
	return AddLimited(ctx, st, zone, owner, name, 0, now)
}

// AddLimited is Add for an owner who may have at most max active devices
// (0: no limit).
func AddLimited(ctx context.Context, st store.Store, zone, owner, name string, max int, now time.Time) (*Credentials, error) {
	owner = strings.TrimSpace(owner)
	name = strings.TrimSpace(name)
	if owner == "" {
		return nil, errors.New("add device: owner is empty")
	}
	if name == "" {
		return nil, errors.New("add device: name is empty")
	}
	c := &Credentials{}
	err := st.Update(ctx, func(tx store.Tx) error {
		o, err := tx.EnsureOwner(ctx, owner)
		if err != nil {
			return err
		}
		if err := CheckRoom(ctx, tx, o.ID, max); err != nil {
			return err
		}
		d := &store.Device{
			ID:        store.NewID(now),
			Label:     names.RandomLabel(),
			OwnerID:   o.ID,
			Name:      name,
			Status:    store.StatusActive,
			CreatedAt: now,
		}
		if err := tx.CreateDevice(ctx, d); err != nil {
			return err
		}
		c.Owner, c.Device = o, d
		key, hmacKey := NewEABKey(d.ID, now)
		c.KID, c.HMACKey = key.KID, hmacKey
		return tx.CreateEABKey(ctx, key)
	})
	if err != nil {
		return nil, fmt.Errorf("add device: %w", err)
	}
	c.Names = names.CertNames(c.Device.Label, zone)
	return c, nil
}

// AddPaired creates, inside tx, the device of an approved pairing: owned by
// ownerID, labelled by its account key (names.Label of the key's
// SubjectPublicKeyInfo) and bound to the key's thumbprint, so that only
// that key can register its account. A label in use is store.ErrConflict;
// an owner with max active devices already, ErrTooManyDevices (max 0: no
// limit).
func AddPaired(ctx context.Context, tx store.Tx, ownerID, name, model, label, thumbprint string, max int, now time.Time) (*store.Device, error) {
	if err := CheckRoom(ctx, tx, ownerID, max); err != nil {
		return nil, fmt.Errorf("add paired device: %w", err)
	}
	d := &store.Device{
		ID:            store.NewID(now),
		Label:         label,
		OwnerID:       ownerID,
		Name:          name,
		Model:         model,
		KeyThumbprint: thumbprint,
		Status:        store.StatusActive,
		CreatedAt:     now,
	}
	if err := tx.CreateDevice(ctx, d); err != nil {
		return nil, fmt.Errorf("add paired device: %w", err)
	}
	return d, nil
}

// Summary is the JSON form of a device that `lantls admin device add
// --json` and `device list --json` print, one per line, and that `lantls
// bench issue --eab-file` reads. EABHMACKey is secret.
type Summary struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Owner      string   `json:"owner"`
	Name       string   `json:"name"`
	Status     string   `json:"status,omitempty"`
	Names      []string `json:"names"`
	EABKID     string   `json:"eab_kid,omitempty"`
	EABHMACKey string   `json:"eab_hmac_key,omitempty"`
	Directory  string   `json:"directory,omitempty"`
	Root       string   `json:"root,omitempty"`
	Certbot    string   `json:"certbot,omitempty"`
	Lego       string   `json:"lego,omitempty"`
	Created    string   `json:"created,omitempty"`
}

// Revoked says what Revoke did.
type Revoked struct {
	Device       *store.Device
	Certificates int // newly revoked certificates
	Accounts     int // accounts deactivated
}

// ErrAlreadyRevoked is returned by Revoke for a device revoked before.
var ErrAlreadyRevoked = errors.New("device is already revoked")

// Revoke revokes every unexpired certificate of the device with label,
// deactivates its ACME accounts, disables its unused EAB keys and marks it
// revoked, all in one transaction. It is the operator's command; owners
// go through Unpair, which also checks ownership.
func Revoke(ctx context.Context, st store.Store, label string, now time.Time) (*Revoked, error) {
	var r Revoked
	err := st.Update(ctx, func(tx store.Tx) error {
		r = Revoked{}
		d, err := tx.GetDeviceByLabel(ctx, label)
		if err != nil {
			return err
		}
		if d.Status != store.StatusActive {
			return ErrAlreadyRevoked
		}
		if err := revokeDevice(ctx, tx, d, now, &r); err != nil {
			return err
		}
		return AuditDevice(ctx, tx, d, Operator.Name, AuditUnpair,
			"revoked: "+count(r.Certificates, "certificate")+" revoked, "+count(r.Accounts, "account")+" deactivated")
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("revoke device: no device with label %q (see 'lantls admin device list')", label)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke device %s: %w", label, err)
	}
	return &r, nil
}

// revokeDevice revokes d's unexpired certificates, deactivates its
// accounts, disables its unused EAB keys and marks it revoked (if it is
// not yet), inside tx, counting what it did in r.
func revokeDevice(ctx context.Context, tx store.Tx, d *store.Device, now time.Time, r *Revoked) error {
	n, err := revokeCertificates(ctx, tx, d.ID, now)
	if err != nil {
		return err
	}
	r.Certificates += n
	accts, err := tx.ListAccountsByDevice(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if a.Status != store.StatusValid {
			continue
		}
		a.Status = store.StatusRevoked
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		r.Accounts++
	}
	if err := tx.DisableDeviceEABKeys(ctx, d.ID, now); err != nil {
		return err
	}
	// A revoked device's short name is free for the device that replaces
	// it.
	if err := tx.SetDeviceShortName(ctx, d.ID, store.ShortName{}); err != nil {
		return err
	}
	r.Device = d
	if d.Status != store.StatusActive {
		return nil
	}
	d.Status, d.RevokedAt = store.StatusRevoked, now
	return tx.UpdateDevice(ctx, d)
}

// NewEABKey returns a new, unused EAB key for a device (a kid from
// store.NewID and 32 random bytes) and the key as base64url, the form
// certbot and lego take.
func NewEABKey(deviceID string, now time.Time) (*store.EABKey, string) {
	key, hmacKey := argSafeRandom(32)
	return &store.EABKey{KID: store.NewID(now), DeviceID: deviceID, HMACKey: key, CreatedAt: now}, hmacKey
}

// argSafeRandom returns n random bytes and their base64url form, drawn
// again while the form starts with '-': certbot and other command lines
// would read such a value as a flag.
func argSafeRandom(n int) ([]byte, string) {
	b := make([]byte, n)
	for {
		rand.Read(b)
		if s := base64.RawURLEncoding.EncodeToString(b); s[0] != '-' {
			return b, s
		}
	}
}
