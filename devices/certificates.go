package devices

import (
	"context"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// RevokeCertificates revokes every unexpired certificate of the device with
// ID id and leaves the device paired: its accounts stay valid, so it gets a
// new certificate when it next checks. It is what an owner does when a
// device's TLS key may have leaked. It returns how many it revoked.
func RevokeCertificates(ctx context.Context, st store.Store, a Actor, id string, now time.Time) (int, error) {
	var n int
	err := st.Update(ctx, func(tx store.Tx) error {
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		n, err = revokeCertificates(ctx, tx, d.ID, now)
		if err != nil {
			return err
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditRevoke, count(n, "certificate")+" revoked")
	})
	if err != nil {
		return 0, fmt.Errorf("revoke certificates: %w", err)
	}
	return n, nil
}

// revokeCertificates revokes, inside tx, every certificate of the device
// with ID deviceID that is neither revoked nor expired at now, and
// returns how many it revoked.
func revokeCertificates(ctx context.Context, tx store.Tx, deviceID string, now time.Time) (int, error) {
	certs, err := tx.ListCertificates(ctx, deviceID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range certs {
		if c.Revoked() || !c.NotAfter.After(now) {
			continue
		}
		if err := tx.RevokeCertificate(ctx, c.Serial, ReasonCessationOfOperation, now); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}
