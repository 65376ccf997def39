package devices

import (
	"context"
	"fmt"

	"github.com/lantls/lantls/store"
)

// AuditPublish is the audit action of a change to whether a device's
// name L.Z answers with its addresses.
const AuditPublish = "publish"

// SetPublish sets whether the DNS answers the device's name L.Z with the
// addresses it reported (store.Publish); the actor must own the device.
// The label is in every certificate and so in public CT logs: publishing
// tells anyone who asks the device's LAN addresses.
func SetPublish(ctx context.Context, st store.Store, a Actor, id string, p store.Publish) error {
	switch p {
	case store.PublishDefault, store.PublishOn, store.PublishOff:
	default:
		return fmt.Errorf("set publishing: %q is not on, off or the default", p)
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := tx.SetDevicePublish(ctx, d.ID, p); err != nil {
			return err
		}
		detail := string(p)
		if p == store.PublishDefault {
			detail = "default"
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditPublish, detail)
	})
	if err != nil {
		return fmt.Errorf("set publishing: %w", err)
	}
	return nil
}
