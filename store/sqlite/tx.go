package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// txn implements store.Tx. With tx nil it works directly on the Store:
// reads on the reader pool, and each write method as one write transaction
// handed to the writer. With tx set, every statement runs inside that
// transaction on the writer connection.
type txn struct {
	s  *Store
	tx *sql.Tx
	fx []func(*caches) // what this write does to cached rows once committed (cache.go)
}

var _ store.Tx = (*txn)(nil)

// EnsureOwner returns the owner named name, creating it if missing.
func (t *txn) EnsureOwner(ctx context.Context, name string) (*store.Owner, error) {
	o, err := t.GetOwnerByName(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return o, err
	}
	err = t.atomic(ctx, func(t *txn) error {
		// Someone else may have created it since: then this does nothing
		// and the read below finds theirs.
		if _, err := t.exec(ctx, insertOwner, store.NewID(now()), name, now().UnixMicro()); err != nil {
			return err
		}
		o, err = t.GetOwnerByName(ctx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure owner %q: %w", name, err)
	}
	return o, nil
}

// GetOwner returns the owner with ID id.
func (t *txn) GetOwner(ctx context.Context, id string) (*store.Owner, error) {
	return get(ctx, t, getOwner, scanOwner, "owner", id)
}

// GetOwnerByName returns the owner named name.
func (t *txn) GetOwnerByName(ctx context.Context, name string) (*store.Owner, error) {
	return get(ctx, t, getOwnerByName, scanOwner, "owner", name)
}

// CreateDevice stores d, filling an empty ID and a zero CreatedAt.
func (t *txn) CreateDevice(ctx context.Context, d *store.Device) error {
	fillID(&d.ID)
	fillTime(&d.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, insertDevice, d.ID, d.Label, d.OwnerID, d.Name, d.Model,
			d.KeyThumbprint, string(d.Status), micros(d.CreatedAt), micros(d.RevokedAt))
		if err == nil {
			v := storedDevice(d)
			t.after(func(c *caches) { c.devices.created(v.ID, v) })
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create device %q: %w", d.ID, err)
	}
	return nil
}

// GetDevice returns the device with ID id.
func (t *txn) GetDevice(ctx context.Context, id string) (*store.Device, error) {
	return getCached(ctx, t, &t.s.caches.devices, getDevice, scanDevice, "device", id)
}

// GetDeviceByLabel returns the device labelled label.
func (t *txn) GetDeviceByLabel(ctx context.Context, label string) (*store.Device, error) {
	return get(ctx, t, getDeviceByLabel, scanDevice, "device", label)
}

// ListDevices returns devices oldest first; an empty OwnerID lists all.
func (t *txn) ListDevices(ctx context.Context, f store.DeviceFilter) ([]*store.Device, error) {
	ds, err := listOwned(ctx, t, listDevices, listDevicesByOwner, scanDevice, f.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// UpdateDevice writes Name, Status, KeyThumbprint and RevokedAt.
func (t *txn) UpdateDevice(ctx context.Context, d *store.Device) error {
	err := t.atomic(ctx, func(t *txn) error {
		t.after(func(c *caches) { c.devices.drop(d.ID) })
		return t.changeOne(ctx, updateDevice, -1, d.ID,
			d.Name, string(d.Status), d.KeyThumbprint, micros(d.RevokedAt), d.ID)
	})
	if err != nil {
		return fmt.Errorf("update device %q: %w", d.ID, err)
	}
	return nil
}

// CreateEABKey stores k, filling an empty KID and a zero CreatedAt.
func (t *txn) CreateEABKey(ctx context.Context, k *store.EABKey) error {
	fillID(&k.KID)
	fillTime(&k.CreatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, insertEABKey, k.KID, k.DeviceID, k.HMACKey,
			micros(k.CreatedAt), micros(k.UsedAt), k.AccountID, k.Disabled)
		return err
	})
	if err != nil {
		return fmt.Errorf("create eab key %q: %w", k.KID, err)
	}
	return nil
}

// GetEABKey returns the EAB key with ID kid.
func (t *txn) GetEABKey(ctx context.Context, kid string) (*store.EABKey, error) {
	return get(ctx, t, getEABKey, scanEABKey, "eab key", kid)
}

// UseEABKey marks an unused key as used by accountID at at (now if zero); a
// key that is already used, or disabled, is ErrConflict.
func (t *txn) UseEABKey(ctx context.Context, kid, accountID string, at time.Time) error {
	fillTime(&at)
	err := t.atomic(ctx, func(t *txn) error {
		return t.changeOne(ctx, useEABKey, eabKeyExists, kid, micros(at), accountID, kid)
	})
	if err != nil {
		return fmt.Errorf("use eab key %q: %w", kid, err)
	}
	return nil
}

// DisableDeviceEABKeys makes every unused key of a device unusable.
func (t *txn) DisableDeviceEABKeys(ctx context.Context, deviceID string, at time.Time) error {
	fillTime(&at)
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, disableDeviceEABKeys, micros(at), deviceID)
		return err
	})
	if err != nil {
		return fmt.Errorf("disable eab keys of device %q: %w", deviceID, err)
	}
	return nil
}

// CreateAccount stores a, filling an empty ID and a zero CreatedAt; a
// KeyThumbprint in use is ErrConflict.
func (t *txn) CreateAccount(ctx context.Context, a *store.Account) error {
	fillID(&a.ID)
	fillTime(&a.CreatedAt)
	contact, err := marshal(a.Contact)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			_, err := t.exec(ctx, insertAccount, a.ID, a.DeviceID, a.KeyThumbprint, a.KeyJWK,
				contact, string(a.Status), a.EABKID, micros(a.CreatedAt))
			if err == nil {
				v := storedAccount(a)
				t.after(func(c *caches) { c.accounts.created(v.ID, v) })
			}
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with ID id.
func (t *txn) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return getCached(ctx, t, &t.s.caches.accounts, getAccount, scanAccount, "account", id)
}

// GetAccountByThumbprint returns the account whose key has thumbprint.
func (t *txn) GetAccountByThumbprint(ctx context.Context, thumbprint string) (*store.Account, error) {
	return get(ctx, t, getAccountByThumbprint, scanAccount, "account", thumbprint)
}

// UpdateAccount writes Status, Contact, KeyThumbprint and KeyJWK; a
// thumbprint used by another account is ErrConflict.
func (t *txn) UpdateAccount(ctx context.Context, a *store.Account) error {
	contact, err := marshal(a.Contact)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			t.after(func(c *caches) { c.accounts.drop(a.ID) })
			return t.changeOne(ctx, updateAccount, -1, a.ID,
				string(a.Status), contact, a.KeyThumbprint, a.KeyJWK, a.ID)
		})
	}
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.ID, err)
	}
	return nil
}

// ListAccountsByDevice returns a device's accounts, oldest first.
func (t *txn) ListAccountsByDevice(ctx context.Context, deviceID string) ([]*store.Account, error) {
	as, err := list(ctx, t, listAccountsByDevice, scanAccount, deviceID)
	if err != nil {
		return nil, fmt.Errorf("list accounts of device %q: %w", deviceID, err)
	}
	return as, nil
}

// CreateOrder stores an order and its authorizations together. It fills
// empty IDs, a zero CreatedAt, a nil o.AuthorizationIDs (from authzs), and
// each authorization's OrderID and, when empty, AccountID.
func (t *txn) CreateOrder(ctx context.Context, o *store.Order, authzs []*store.Authorization) error {
	fillID(&o.ID)
	fillTime(&o.CreatedAt)
	for _, a := range authzs {
		fillID(&a.ID)
		a.OrderID = o.ID
		if a.AccountID == "" {
			a.AccountID = o.AccountID
		}
	}
	if o.AuthorizationIDs == nil && len(authzs) > 0 {
		o.AuthorizationIDs = make([]string, len(authzs))
		for i, a := range authzs {
			o.AuthorizationIDs[i] = a.ID
		}
	}
	if err := t.createOrder(ctx, o, authzs); err != nil {
		return fmt.Errorf("create order %q: %w", o.ID, err)
	}
	return nil
}

func (t *txn) createOrder(ctx context.Context, o *store.Order, authzs []*store.Authorization) error {
	identifiers, err := marshal(o.Identifiers)
	if err != nil {
		return err
	}
	authzIDs, err := marshal(o.AuthorizationIDs)
	if err != nil {
		return err
	}
	perr, err := marshalProblem(o.Error)
	if err != nil {
		return err
	}
	challenges := make([]string, len(authzs))
	for i, a := range authzs {
		if challenges[i], err = marshalChallenges(a.Challenges); err != nil {
			return err
		}
	}
	return t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, insertOrder, o.ID, o.AccountID, o.DeviceID, string(o.Status),
			identifiers, authzIDs, o.Profile, o.Replaces, micros(o.Expires), micros(o.CreatedAt),
			o.CertificateSerial, perr)
		if err != nil {
			return err
		}
		if v := storedOrder(o); v != nil {
			t.after(func(c *caches) { c.orders.created(v.ID, v) })
		}
		for i, a := range authzs {
			_, err := t.exec(ctx, insertAuthorization, a.ID, a.AccountID, a.OrderID, a.Identifier.Type,
				a.Identifier.Value, a.Wildcard, string(a.Status), micros(a.Expires), challenges[i])
			if err != nil {
				return fmt.Errorf("authorization %q: %w", a.ID, err)
			}
			if v, err := storedAuthorization(a, challenges[i]); err == nil {
				t.after(func(c *caches) { c.authzs.created(v.ID, v) })
			}
		}
		return nil
	})
}

// GetOrder returns the order with ID id.
func (t *txn) GetOrder(ctx context.Context, id string) (*store.Order, error) {
	return getCached(ctx, t, &t.s.caches.orders, getOrder, scanOrder, "order", id)
}

// UpdateOrder writes Status, Error and CertificateSerial, but only if the
// stored status is still expect; otherwise ErrConflict.
func (t *txn) UpdateOrder(ctx context.Context, o *store.Order, expect store.Status) error {
	perr, err := marshalProblem(o.Error)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			t.after(func(c *caches) { c.orders.drop(o.ID) })
			return t.changeOne(ctx, updateOrder, orderExists, o.ID,
				string(o.Status), perr, o.CertificateSerial, o.ID, string(expect))
		})
	}
	if err != nil {
		return fmt.Errorf("update order %q: %w", o.ID, err)
	}
	return nil
}

// ListOrderIDs returns up to limit order IDs of an account, oldest first,
// after the ID after ("" for the start). An after that is no order of the
// account gives no IDs.
func (t *txn) ListOrderIDs(ctx context.Context, accountID, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return []string{}, nil
	}
	var (
		ids []string
		err error
	)
	if after == "" {
		ids, err = list(ctx, t, listOrderIDs, scanString, accountID, limit)
	} else {
		ids, err = list(ctx, t, listOrderIDsAfter, scanString, after, accountID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list orders of account %q: %w", accountID, err)
	}
	return ids, nil
}

// FailProcessingOrders makes every processing order invalid with p.
func (t *txn) FailProcessingOrders(ctx context.Context, p *problem.Error) (int, error) {
	doc, err := marshalProblem(p)
	if err != nil {
		return 0, fmt.Errorf("fail processing orders: %w", err)
	}
	var n int
	err = t.atomic(ctx, func(t *txn) (err error) {
		t.after(func(c *caches) { c.orders.reset() })
		n, err = t.exec(ctx, failProcessingOrders, doc)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fail processing orders: %w", err)
	}
	return n, nil
}

// CountOpenOrders counts an account's pending, ready and processing orders
// that expire after now, and returns the earliest of their expiries.
func (t *txn) CountOpenOrders(ctx context.Context, accountID string, now time.Time) (int, time.Time, error) {
	var n int
	var first sql.NullInt64
	err := t.stmt(ctx, countOpenOrders).QueryRowContext(ctx, accountID, now.UnixMicro()).Scan(&n, &first)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count open orders of account %q: %w", accountID, err)
	}
	if !first.Valid {
		return n, time.Time{}, nil
	}
	return n, time.UnixMicro(first.Int64).UTC(), nil
}

// GetAuthorization returns the authorization with ID id.
func (t *txn) GetAuthorization(ctx context.Context, id string) (*store.Authorization, error) {
	return getCached(ctx, t, &t.s.caches.authzs, getAuthorization, scanAuthorization, "authorization", id)
}

// UpdateAuthorization writes Status and Challenges.
func (t *txn) UpdateAuthorization(ctx context.Context, a *store.Authorization) error {
	challenges, err := marshalChallenges(a.Challenges)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			t.after(func(c *caches) { c.authzs.drop(a.ID) })
			return t.changeOne(ctx, updateAuthorization, -1, a.ID, string(a.Status), challenges, a.ID)
		})
	}
	if err != nil {
		return fmt.Errorf("update authorization %q: %w", a.ID, err)
	}
	return nil
}

// CreateCertificate records an issued certificate, filling a zero
// CreatedAt; a duplicate serial is ErrConflict.
func (t *txn) CreateCertificate(ctx context.Context, c *store.Certificate) error {
	if c.Serial == "" {
		return errors.New("create certificate: empty serial")
	}
	fillTime(&c.CreatedAt)
	names, err := marshal(c.Names)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			_, err := t.exec(ctx, insertCertificate, c.Serial, c.DeviceID, c.AccountID, c.OrderID,
				names, c.Profile, micros(c.NotBefore), micros(c.NotAfter), c.ChainPEM, micros(c.CreatedAt),
				micros(c.RevokedAt), c.Reason, c.ReplacedBy)
			if err == nil {
				v := storedCertificate(c)
				t.after(func(c *caches) { c.certs.created(v.Serial, v) })
			}
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("create certificate %q: %w", c.Serial, err)
	}
	return nil
}

// GetCertificate returns the certificate with serial.
func (t *txn) GetCertificate(ctx context.Context, serial string) (*store.Certificate, error) {
	return getCached(ctx, t, &t.s.caches.certs, getCertificate, scanCertificate, "certificate", serial)
}

// ListCertificates returns a device's certificates, oldest first.
func (t *txn) ListCertificates(ctx context.Context, deviceID string) ([]*store.Certificate, error) {
	cs, err := list(ctx, t, listCertificates, scanCertificate, deviceID)
	if err != nil {
		return nil, fmt.Errorf("list certificates of device %q: %w", deviceID, err)
	}
	return cs, nil
}

// RevokeCertificate marks a certificate revoked at at (now if zero); one
// already revoked is ErrConflict.
func (t *txn) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) error {
	fillTime(&at)
	err := t.atomic(ctx, func(t *txn) error {
		t.after(func(c *caches) { c.certs.drop(serial) })
		return t.changeOne(ctx, revokeCertificate, certificateExists, serial, micros(at), reason, serial)
	})
	if err != nil {
		return fmt.Errorf("revoke certificate %q: %w", serial, err)
	}
	return nil
}

// SetCertificateReplacedBy records that orderID replaces serial (RFC 9773);
// it overwrites any earlier value.
func (t *txn) SetCertificateReplacedBy(ctx context.Context, serial, orderID string) error {
	err := t.atomic(ctx, func(t *txn) error {
		t.after(func(c *caches) { c.certs.drop(serial) })
		return t.changeOne(ctx, setCertificateReplacedBy, -1, serial, orderID, serial)
	})
	if err != nil {
		return fmt.Errorf("set replacement of certificate %q: %w", serial, err)
	}
	return nil
}

// ListRevoked returns every revoked certificate that has not expired at now
// (NotAfter is not before now), in order of revocation.
func (t *txn) ListRevoked(ctx context.Context, now time.Time) ([]store.RevokedCertificate, error) {
	rs, err := list(ctx, t, listRevoked, scanRevoked, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	return rs, nil
}

// ConsumeNonce records a nonce as used until expires; a nonce used before
// is ErrConflict.
func (t *txn) ConsumeNonce(ctx context.Context, nonce string, expires time.Time) error {
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.exec(ctx, insertNonce, nonce, expires.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("consume nonce: %w", err)
	}
	return nil
}

// Secret returns the secret stored under name, storing value first if there
// is none.
func (t *txn) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	v, err := get(ctx, t, getSecret, scanBytes, "secret", name)
	if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	err = t.atomic(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, insertSecret, name, value, now().UnixMicro()); err != nil {
			return err
		}
		v, err = get(ctx, t, getSecret, scanBytes, "secret", name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store secret %q: %w", name, err)
	}
	return v, nil
}

// LimitTAT returns the theoretical arrival time stored for the rate limit
// key, or the zero time if there is none.
func (t *txn) LimitTAT(ctx context.Context, key string) (time.Time, error) {
	tat, err := get(ctx, t, getLimitTAT, scanTime, "rate limit", key)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	return tat, err
}

// SetLimitTAT stores key's theoretical arrival time; a zero tat deletes it.
func (t *txn) SetLimitTAT(ctx context.Context, key string, tat time.Time) error {
	err := t.atomic(ctx, func(t *txn) error {
		var err error
		if tat.IsZero() {
			_, err = t.exec(ctx, deleteLimitTAT, key)
		} else {
			_, err = t.exec(ctx, setLimitTAT, key, tat.UnixMicro())
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set rate limit %q: %w", key, err)
	}
	return nil
}

// Sweep deletes used nonces that expired before now and rate-limit times
// before now, and makes pending or ready orders (and their pending
// authorizations) that expired before now invalid. It returns how many rows
// it changed. Outside Update it deletes in batches, each its own
// transaction, so that a long backlog does not hold up other writes.
func (t *txn) Sweep(ctx context.Context, now time.Time) (int, error) {
	at := now.UnixMicro()
	total := 0
	for _, q := range []query{sweepNonces, sweepLimitTATs} {
		n, err := t.deleteAll(ctx, q, at)
		total += n
		if err != nil {
			return total, fmt.Errorf("sweep: %w", err)
		}
	}
	err := t.atomic(ctx, func(t *txn) error {
		t.after(func(c *caches) { c.orders.reset(); c.authzs.reset() })
		// Authorizations first: they are found through their orders'
		// status, which the second statement changes.
		n, err := t.exec(ctx, sweepAuthorizations, at)
		if err != nil {
			return err
		}
		m, err := t.exec(ctx, sweepOrders, at)
		if err != nil {
			return err
		}
		total += n + m
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("sweep orders: %w", err)
	}
	return total, nil
}

// deleteAll runs the batched delete q until it deletes less than a batch,
// and returns how many rows it deleted.
func (t *txn) deleteAll(ctx context.Context, q query, args ...any) (int, error) {
	total := 0
	for {
		var n int
		err := t.atomic(ctx, func(t *txn) (err error) {
			n, err = t.exec(ctx, q, args...)
			return err
		})
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

// atomic runs fn so that all its statements commit together: in the current
// transaction, or as one write handed to the writer.
func (t *txn) atomic(ctx context.Context, fn func(t *txn) error) error {
	if t.tx != nil {
		return fn(t)
	}
	return t.s.updateOnWriter(ctx, fn)
}

// stmt returns the prepared statement of q: bound to the transaction, or,
// for reads outside one, on the reader pool.
func (t *txn) stmt(ctx context.Context, q query) *sql.Stmt {
	if t.tx != nil {
		return t.tx.StmtContext(ctx, t.s.ws[q])
	}
	return t.s.rs[q]
}

// exec runs the write q, inside a transaction, and returns how many rows it
// changed.
func (t *txn) exec(ctx context.Context, q query, args ...any) (int, error) {
	ctx, err := brief(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.stmt(ctx, q).ExecContext(ctx, args...)
	if err != nil {
		return 0, classify(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// changeOne runs the write q, which must change the row with key key. If it
// changes nothing, the row is missing (ErrNotFound) or, when the query
// exists finds it, failed q's precondition (ErrConflict). An exists of -1
// means every unchanged row is missing.
func (t *txn) changeOne(ctx context.Context, q, exists query, key string, args ...any) error {
	n, err := t.exec(ctx, q, args...)
	if err != nil || n > 0 {
		return err
	}
	if exists < 0 {
		return store.ErrNotFound
	}
	var one int
	switch err := t.stmt(ctx, exists).QueryRowContext(context.WithoutCancel(ctx), key).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	}
	return store.ErrConflict
}

// get runs the single-row query q with key and scans its row.
func get[T any](ctx context.Context, t *txn, q query, scan func(scanner) (T, error), what, key string) (T, error) {
	var v T
	ctx, err := brief(ctx)
	if err == nil {
		v, err = scan(t.stmt(ctx, q).QueryRowContext(ctx, key))
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("get %s %q: %w", what, key, err)
	}
	return v, nil
}

// list runs the query q and scans every row. It returns an empty, non-nil
// slice when there are none, so that callers writing JSON send [] rather
// than null. Lists can be long, so unlike single rows they stay
// cancellable while they run.
func list[T any](ctx context.Context, t *txn, q query, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := t.stmt(ctx, q).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scan)
}

// listOwned lists with the query all when ownerID is empty, else with
// byOwner, which takes the owner's ID.
func listOwned[T any](ctx context.Context, t *txn, all, byOwner query, scan func(scanner) (T, error), ownerID string) ([]T, error) {
	if ownerID == "" {
		return list(ctx, t, all, scan)
	}
	return list(ctx, t, byOwner, scan, ownerID)
}

// brief returns ctx for a statement that touches a row or two and takes
// microseconds: an error if ctx has already ended, else ctx without its
// cancellation. Watching a cancellable context costs the driver and
// database/sql a goroutine per statement, more than the statement itself.
func brief(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// classify turns SQLite's constraint errors into the store's: a broken
// uniqueness is ErrConflict, a reference to a missing row ErrNotFound.
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// now returns the current time as the store keeps it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// fillTime sets a zero *t to now.
func fillTime(t *time.Time) {
	if t.IsZero() {
		*t = now()
	}
}

// fillID sets an empty *id to a new ID.
func fillID(id *string) {
	if *id == "" {
		*id = store.NewID(now())
	}
}

// micros is t as stored: unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeOf reverses micros.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// truncate returns t in the form the store returns it.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// marshal is v as JSON text. A nil slice is stored as null and an empty one
// as [], so each reads back as it was written.
func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func marshalProblem(p *problem.Error) (any, error) {
	if p == nil {
		return nil, nil
	}
	return marshal(p)
}

func marshalChallenges(cs []store.Challenge) (string, error) {
	if cs != nil {
		cs = append([]store.Challenge{}, cs...)
		for i := range cs {
			cs[i].Validated = truncate(cs[i].Validated)
		}
	}
	return marshal(cs)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanOwner(r scanner) (*store.Owner, error) {
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

func scanDevice(r scanner) (*store.Device, error) {
	var (
		d                store.Device
		created, revoked sql.NullInt64
	)
	err := r.Scan(&d.ID, &d.Label, &d.OwnerID, &d.Name, &d.Model, &d.KeyThumbprint, &d.Status,
		&created, &revoked)
	if err != nil {
		return nil, err
	}
	d.CreatedAt, d.RevokedAt = timeOf(created), timeOf(revoked)
	return &d, nil
}

func scanEABKey(r scanner) (*store.EABKey, error) {
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

func scanAccount(r scanner) (*store.Account, error) {
	var (
		a       store.Account
		contact string
		created sql.NullInt64
	)
	err := r.Scan(&a.ID, &a.DeviceID, &a.KeyThumbprint, &a.KeyJWK, &contact, &a.Status, &a.EABKID, &created)
	if err != nil {
		return nil, err
	}
	a.CreatedAt = timeOf(created)
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return nil, fmt.Errorf("account %q contact: %w", a.ID, err)
	}
	return &a, nil
}

func scanOrder(r scanner) (*store.Order, error) {
	var (
		o                     store.Order
		identifiers, authzIDs string
		problemJSON           sql.NullString
		expires, created      sql.NullInt64
	)
	err := r.Scan(&o.ID, &o.AccountID, &o.DeviceID, &o.Status, &identifiers, &authzIDs, &o.Profile,
		&o.Replaces, &expires, &created, &o.CertificateSerial, &problemJSON)
	if err != nil {
		return nil, err
	}
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

func scanAuthorization(r scanner) (*store.Authorization, error) {
	var (
		a          store.Authorization
		challenges string
		expires    sql.NullInt64
	)
	err := r.Scan(&a.ID, &a.AccountID, &a.OrderID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard,
		&a.Status, &expires, &challenges)
	if err != nil {
		return nil, err
	}
	a.Expires = timeOf(expires)
	if a.Challenges, err = decodeChallenges(challenges); err != nil {
		return nil, fmt.Errorf("authorization %q challenges: %w", a.ID, err)
	}
	return &a, nil
}

func scanCertificate(r scanner) (*store.Certificate, error) {
	var (
		c                                     store.Certificate
		names                                 string
		notBefore, notAfter, created, revoked sql.NullInt64
	)
	err := r.Scan(&c.Serial, &c.DeviceID, &c.AccountID, &c.OrderID, &names, &c.Profile, &notBefore,
		&notAfter, &c.ChainPEM, &created, &revoked, &c.Reason, &c.ReplacedBy)
	if err != nil {
		return nil, err
	}
	c.NotBefore, c.NotAfter = timeOf(notBefore), timeOf(notAfter)
	c.CreatedAt, c.RevokedAt = timeOf(created), timeOf(revoked)
	if err := json.Unmarshal([]byte(names), &c.Names); err != nil {
		return nil, fmt.Errorf("certificate %q names: %w", c.Serial, err)
	}
	return &c, nil
}

func scanRevoked(r scanner) (store.RevokedCertificate, error) {
	var (
		c       store.RevokedCertificate
		revoked sql.NullInt64
	)
	if err := r.Scan(&c.Serial, &revoked, &c.Reason); err != nil {
		return c, err
	}
	c.RevokedAt = timeOf(revoked)
	return c, nil
}

func scanString(r scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

func scanTime(r scanner) (time.Time, error) {
	var n sql.NullInt64
	err := r.Scan(&n)
	return timeOf(n), err
}

func scanBytes(r scanner) ([]byte, error) {
	var b []byte
	err := r.Scan(&b)
	return b, err
}
