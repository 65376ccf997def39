package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The row scanners. Times are scanned as sql.NullInt64 (microseconds or
// NULL) and enumerations and integers through plain Go types, which both
// database/sql and pgx fill.

// timeOf reverses micros.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

func scanOwner(r Scanner) (*store.Owner, error) {
	var (
		o       store.Owner
		created sql.NullInt64
	)
	if err := r.Scan(&o.ID, &o.Name, &created); err != nil {
		return nil, err
	}
	o.CreatedAt = timeOf(created)
	return &o, nil
}

func scanDevice(r Scanner) (*store.Device, error) {
	var (
		d                store.Device
		status           string
		created, revoked sql.NullInt64
	)
	err := r.Scan(&d.ID, &d.Label, &d.OwnerID, &d.Name, &d.Model, &d.KeyThumbprint, &status,
		&created, &revoked)
	if err != nil {
		return nil, err
	}
	d.Status = store.Status(status)
	d.CreatedAt, d.RevokedAt = timeOf(created), timeOf(revoked)
	return &d, nil
}

func scanEABKey(r Scanner) (*store.EABKey, error) {
	var (
		k             store.EABKey
		created, used sql.NullInt64
	)
	err := r.Scan(&k.KID, &k.DeviceID, &k.HMACKey, &created, &used, &k.AccountID, &k.Disabled)
	if err != nil {
		return nil, err
	}
	k.CreatedAt, k.UsedAt = timeOf(created), timeOf(used)
	return &k, nil
}

func scanAccount(r Scanner) (*store.Account, error) {
	var (
		a               store.Account
		contact, status string
		created         sql.NullInt64
	)
	err := r.Scan(&a.ID, &a.DeviceID, &a.KeyThumbprint, &a.KeyJWK, &contact, &status, &a.EABKID, &created)
	if err != nil {
		return nil, err
	}
	a.Status = store.Status(status)
	a.CreatedAt = timeOf(created)
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return nil, fmt.Errorf("account %q contact: %w", a.ID, err)
	}
	return &a, nil
}

func scanOrder(r Scanner) (*store.Order, error) {
	var (
		o                             store.Order
		status, identifiers, authzIDs string
		problemJSON                   sql.NullString
		expires, created              sql.NullInt64
	)
	err := r.Scan(&o.ID, &o.AccountID, &o.DeviceID, &status, &identifiers, &authzIDs, &o.Profile,
		&o.Replaces, &expires, &created, &o.CertificateSerial, &problemJSON)
	if err != nil {
		return nil, err
	}
	o.Status = store.Status(status)
	o.Expires, o.CreatedAt = timeOf(expires), timeOf(created)
	if err := json.Unmarshal([]byte(identifiers), &o.Identifiers); err != nil {
		return nil, fmt.Errorf("order %q identifiers: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(authzIDs), &o.AuthorizationIDs); err != nil {
		return nil, fmt.Errorf("order %q authorizations: %w", o.ID, err)
	}
	if problemJSON.Valid {
		if err := json.Unmarshal([]byte(problemJSON.String), &o.Error); err != nil {
			return nil, fmt.Errorf("order %q error: %w", o.ID, err)
		}
	}
	return &o, nil
}

func scanAuthorization(r Scanner) (*store.Authorization, error) {
	var (
		a                  store.Authorization
		status, challenges string
		expires            sql.NullInt64
	)
	err := r.Scan(&a.ID, &a.AccountID, &a.OrderID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard,
		&status, &expires, &challenges)
	if err != nil {
		return nil, err
	}
	a.Status = store.Status(status)
	a.Expires = timeOf(expires)
	if a.Challenges, err = DecodeChallenges(challenges); err != nil {
		return nil, fmt.Errorf("authorization %q challenges: %w", a.ID, err)
	}
	return &a, nil
}

func scanCertificate(r Scanner) (*store.Certificate, error) {
	var (
		c                                     store.Certificate
		names                                 string
		reason                                int64
		notBefore, notAfter, created, revoked sql.NullInt64
	)
	err := r.Scan(&c.Serial, &c.DeviceID, &c.AccountID, &c.OrderID, &names, &c.Profile, &notBefore,
		&notAfter, &c.ChainPEM, &created, &revoked, &reason, &c.ReplacedBy)
	if err != nil {
		return nil, err
	}
	c.Reason = int(reason)
	c.NotBefore, c.NotAfter = timeOf(notBefore), timeOf(notAfter)
	c.CreatedAt, c.RevokedAt = timeOf(created), timeOf(revoked)
	if err := json.Unmarshal([]byte(names), &c.Names); err != nil {
		return nil, fmt.Errorf("certificate %q names: %w", c.Serial, err)
	}
	return &c, nil
}

func scanRevoked(r Scanner) (store.RevokedCertificate, error) {
	var (
		c       store.RevokedCertificate
		reason  int64
		revoked sql.NullInt64
	)
	if err := r.Scan(&c.Serial, &revoked, &reason); err != nil {
		return c, err
	}
	c.Reason = int(reason)
	c.RevokedAt = timeOf(revoked)
	return c, nil
}

func scanString(r Scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

func scanTime(r Scanner) (time.Time, error) {
	var n sql.NullInt64
	err := r.Scan(&n)
	return timeOf(n), err
}

func scanBytes(r Scanner) ([]byte, error) {
	var b []byte
	err := r.Scan(&b)
	return b, err
}
