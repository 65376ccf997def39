package devices

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// RecordCertificate is the one way the issuer records a certificate it
// issued (it is a ca.Record): inside tx, it checks that o's device is
// still active (a problem of kind Unauthorized if not, before any write),
// stores cert, moves o from the status from to valid, and adds an entry
// to the owner's audit log whose detail ends with source. The ACME front
// end calls it for signers that answer at once; the upstream signer is
// handed it for the orders it finishes in the background.
func RecordCertificate(ctx context.Context, tx store.Tx, o *store.Order, from store.Status, cert *store.Certificate, source string) error {
	dev, err := tx.GetDevice(ctx, o.DeviceID)
	if err != nil {
		return fmt.Errorf("get device: %w", err)
	}
	if dev.Status != store.StatusActive {
		return problem.UnauthorizedErr("the account's device is %s", dev.Status)
	}
	if err := tx.CreateCertificate(ctx, cert); err != nil {
		return fmt.Errorf("record certificate: %w", err)
	}
	o.Status, o.CertificateSerial = store.StatusValid, cert.Serial
	if err := tx.UpdateOrder(ctx, o, from); err != nil {
		return fmt.Errorf("mark order valid: %w", err)
	}
	return AuditDevice(ctx, tx, dev, "acme account "+o.AccountID, AuditIssue,
		fmt.Sprintf("certificate %s for %s%s", cert.Serial, strings.Join(cert.Names, ", "), source))
}

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
