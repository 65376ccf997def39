package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lantls/lantls/store"
)

// The row scanners. A time column (microseconds or NULL) is scanned
// through asTime into its time.Time, an enumeration as the string it is
// ((*string)(&x.Status)), integers through plain Go types: what both
// database/sql and pgx fill.

// timeOf reverses micros.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// asTime is a scan destination that sets *t to the time of a time
// column, as timeOf: the zero time for NULL.
func asTime(t *time.Time) sql.Scanner { return timeDest{t} }

type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64: // what both drivers give for BIGINT
		*d.t = time.UnixMicro(v).UTC()
	default:
		var n sql.NullInt64
		if err := n.Scan(src); err != nil {
			return err
		}
		*d.t = timeOf(n)
	}
	return nil
}

func scanOwner(r Scanner) (*store.Owner, error) {
	var o store.Owner
	if err := r.Scan(&o.ID, &o.Name, asTime(&o.CreatedAt)); err != nil {
		return nil, err
	}
	return &o, nil
}

func scanDevice(r Scanner) (*store.Device, error) {
	var d store.Device
	err := r.Scan(&d.ID, &d.Label, &d.OwnerID, &d.Name, &d.Model, &d.KeyThumbprint, (*string)(&d.Status),
		asTime(&d.CreatedAt), asTime(&d.RevokedAt))
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func scanEABKey(r Scanner) (*store.EABKey, error) {
	var k store.EABKey
	err := r.Scan(&k.KID, &k.DeviceID, &k.HMACKey, asTime(&k.CreatedAt), asTime(&k.UsedAt), &k.AccountID, &k.Disabled)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

func scanAccount(r Scanner) (*store.Account, error) {
	var (
		a       store.Account
		contact string
	)
	err := r.Scan(&a.ID, &a.DeviceID, &a.KeyThumbprint, &a.KeyJWK, &contact, (*string)(&a.Status), &a.EABKID, asTime(&a.CreatedAt))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return nil, fmt.Errorf("account %q contact: %w", a.ID, err)
	}
	return &a, nil
}

func scanOrder(r Scanner) (*store.Order, error) {
	var (
		o                     store.Order
		identifiers, authzIDs string
		problemJSON           sql.NullString
	)
	err := r.Scan(&o.ID, &o.AccountID, &o.DeviceID, (*string)(&o.Status), &identifiers, &authzIDs, &o.Profile,
		&o.Replaces, asTime(&o.Expires), asTime(&o.CreatedAt), &o.CertificateSerial, &problemJSON)
	if err != nil {
		return nil, err
	}
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
		a          store.Authorization
		challenges string
	)
	err := r.Scan(&a.ID, &a.AccountID, &a.OrderID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard,
		(*string)(&a.Status), asTime(&a.Expires), &challenges)
	if err != nil {
		return nil, err
	}
	if a.Challenges, err = DecodeChallenges(challenges); err != nil {
		return nil, fmt.Errorf("authorization %q challenges: %w", a.ID, err)
	}
	return &a, nil
}

func scanCertificate(r Scanner) (*store.Certificate, error) {
	var (
		c      store.Certificate
		names  string
		reason int64
	)
	err := r.Scan(&c.Serial, &c.DeviceID, &c.AccountID, &c.OrderID, &names, &c.Profile, asTime(&c.NotBefore),
		asTime(&c.NotAfter), &c.ChainPEM, asTime(&c.CreatedAt), asTime(&c.RevokedAt), &reason, &c.ReplacedBy)
	if err != nil {
		return nil, err
	}
	c.Reason = int(reason)
	if err := json.Unmarshal([]byte(names), &c.Names); err != nil {
		return nil, fmt.Errorf("certificate %q names: %w", c.Serial, err)
	}
	return &c, nil
}

func scanRevoked(r Scanner) (store.RevokedCertificate, error) {
	var (
		c      store.RevokedCertificate
		reason int64
	)
	if err := r.Scan(&c.Serial, asTime(&c.RevokedAt), &reason); err != nil {
		return c, err
	}
	c.Reason = int(reason)
	return c, nil
}

func scanString(r Scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

func scanTime(r Scanner) (time.Time, error) {
	var t time.Time
	err := r.Scan(asTime(&t))
	return t, err
}

func scanBytes(r Scanner) ([]byte, error) {
	var b []byte
	err := r.Scan(&b)
	return b, err
}
