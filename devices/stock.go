package devices

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/store"
)

// AuditEABKey is the audit action of a new EAB key for a stock device.
const AuditEABKey = "eab-key"

// AuditRemove is the audit action of removing an unpaired device from the
// device list.
const AuditRemove = "remove"

// ErrNotStock is NewEABKeyFor's answer for a paired device: its agent
// registers with the key it paired with.
var ErrNotStock = errors.New("the device is paired with the lantls agent, which needs no EAB key")

// ErrActive is Remove's answer for a device that is still paired.
var ErrActive = errors.New("the device is still paired: unpair it first")

// NewEABKeyFor gives the active stock-client device with ID id a new EAB
// key, for a client set up anew (a new machine, lost account files). The
// device's earlier unused keys stop working, so only the key shown last
// can register; accounts already registered keep working.
func NewEABKeyFor(ctx context.Context, st store.Store, a Actor, zone, id string, now time.Time) (*Credentials, error) {
	c := &Credentials{}
	err := st.Update(ctx, func(tx store.Tx) error {
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if d.Status != store.StatusActive {
			return ErrNotFound
		}
		if d.KeyThumbprint != "" {
			return ErrNotStock
		}
		if err := tx.DisableDeviceEABKeys(ctx, d.ID, now); err != nil {
			return err
		}
		key, hmacKey := NewEABKey(d.ID, now)
		if err := tx.CreateEABKey(ctx, key); err != nil {
			return err
		}
		c.Device, c.KID, c.HMACKey = d, key.KID, hmacKey
		return AuditDevice(ctx, tx, d, a.Name, AuditEABKey, "new EAB key "+key.KID+"; earlier unused keys disabled")
	})
	if err != nil {
		return nil, fmt.Errorf("new EAB key: %w", err)
	}
	c.Names = names.CertNames(c.Device.Label, zone)
	return c, nil
}

// Remove takes the unpaired device with ID id off the device list. Its
// page, certificates and audit entries stay, for the record.
func Remove(ctx context.Context, st store.Store, a Actor, id string) error {
	err := st.Update(ctx, func(tx store.Tx) error {
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		switch d.Status {
		case store.StatusRemoved:
			return nil
		case store.StatusActive:
			return ErrActive
		}
		d.Status = store.StatusRemoved
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditRemove, "removed from the device list")
	})
	if err != nil {
		return fmt.Errorf("remove device: %w", err)
	}
	return nil
}
