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
	n := 0
	err := st.Update(ctx, func(tx store.Tx) error {
		n = 0
		d, err := Get(ctx, tx, a, id)
		if err != nil {
			return err
		}
		certs, err := tx.ListCertificates(ctx, d.ID)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if c.Revoked() || !c.NotAfter.After(now) {
				continue
			}
			if err := tx.RevokeCertificate(ctx, c.Serial, ReasonCessationOfOperation, now); err != nil {
				return err
			}
			n++
		}
		return AuditDevice(ctx, tx, d, a.Name, AuditRevoke, fmt.Sprintf("%d certificates revoked", n))
	})
	if err != nil {
		return 0, fmt.Errorf("revoke certificates: %w", err)
	}
	return n, nil
}
