package devices

import (
	"context"
	"errors"
	"fmt"

	"github.com/lantls/lantls/names"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// AuditShortName is the audit action of a change to a device's short name.
const AuditShortName = "short-name"

// ErrShortNameTaken says another device in the zone has the short name.
var ErrShortNameTaken = errors.New("another device has this short name")

// SetShortName gives the device a short name (tv: tv.Z in its next
// certificate and in the DNS), with <name>.local too where mdns is set;
// an empty name removes it. The actor must own the device. A name that is
// not one DNS label is a malformed problem; one another device has is
// ErrShortNameTaken.
func SetShortName(ctx context.Context, st store.Store, a Actor, id, name string, mdns bool) error {
	n := store.ShortName{}
	if name != "" {
		short, err := names.ParseShortName(name)
		if err != nil {
			return problem.MalformedErr("%v", err)
		}
		n = store.ShortName{Name: short, MDNS: mdns}
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := tx.SetDeviceShortName(ctx, d.ID, n); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrShortNameTaken
			}
			return err
		}
		detail := "none"
		if n.Name != "" {
			detail = n.Name
			if n.MDNS {
				detail += " (and .local)"
			}
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditShortName, detail)
	})
	if err != nil {
		return fmt.Errorf("set short name: %w", err)
	}
	return nil
}
