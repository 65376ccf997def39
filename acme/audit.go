package acme

import (
	"context"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/store"
)

// audit records, inside tx, what an ACME request did to a device in its
// owner's audit log (issuances and revocations).
func audit(ctx context.Context, tx store.Tx, deviceID, actor, action, detail string) error {
	dev, err := tx.GetDevice(ctx, deviceID)
	if err != nil {
		return err
	}
	return devices.AuditDevice(ctx, tx, dev, actor, action, detail)
}

// revoker is the account that asks for a revocation, or, for a request
// signed with the certificate's key, that key's thumbprint.
func revoker(req *request) string {
	if req.account != nil {
		return "acme account " + req.account.ID
	}
	return "holder of the certificate key " + req.thumbprint
}
