package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// Tx implements store.Tx on a DB: on one transaction, or, outside any, on
// the backend itself.
type Tx struct {
	DB DB
}

var _ store.Tx = Tx{}

// EnsureOwner returns the owner named name, creating it if missing.
func (t Tx) EnsureOwner(ctx context.Context, name string) (*store.Owner, error) {
	o, err := t.GetOwnerByName(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return o, err
	}
	err = t.DB.Atomic(ctx, func(db DB) error {
		// Someone else may have created it since: then this does nothing
		// and the read below finds theirs.
		if _, err := exec(ctx, db, insertOwner, store.NewID(Now()), name, Now().UnixMicro()); err != nil {
			return err
		}
		o, err = get(ctx, db, getOwnerByName, scanOwner, "owner", name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure owner %q: %w", name, err)
	}
	return o, nil
}

// GetOwner returns the owner with ID id.
func (t Tx) GetOwner(ctx context.Context, id string) (*store.Owner, error) {
	return get(ctx, t.DB, getOwner, scanOwner, "owner", id)
}

// GetOwnerByName returns the owner named name.
func (t Tx) GetOwnerByName(ctx context.Context, name string) (*store.Owner, error) {
	return get(ctx, t.DB, getOwnerByName, scanOwner, "owner", name)
}

// CreateDevice stores d, filling an empty ID and a zero CreatedAt.
func (t Tx) CreateDevice(ctx context.Context, d *store.Device) error {
	fillID(&d.ID)
	fillTime(&d.CreatedAt)
	_, err := t.DB.Exec(ctx, Change{Devices, d.ID, d}, insertDevice, d.ID, d.Label, d.OwnerID, d.Name, d.Model,
		d.KeyThumbprint, string(d.Status), micros(d.CreatedAt), micros(d.RevokedAt))
	if err != nil {
		return fmt.Errorf("create device %q: %w", d.ID, err)
	}
	return nil
}

// GetDevice returns the device with ID id.
func (t Tx) GetDevice(ctx context.Context, id string) (*store.Device, error) {
	return get(ctx, t.DB, getDevice, scanDevice, "device", id)
}

// GetDeviceByLabel returns the device labelled label.
func (t Tx) GetDeviceByLabel(ctx context.Context, label string) (*store.Device, error) {
	return get(ctx, t.DB, getDeviceByLabel, scanDevice, "device", label)
}

// ListDevices returns devices oldest first; an empty OwnerID lists all.
func (t Tx) ListDevices(ctx context.Context, f store.DeviceFilter) ([]*store.Device, error) {
	ds, err := listOwned(ctx, t.DB, listDevices, listDevicesByOwner, scanDevice, f.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// UpdateDevice writes Name, Status, KeyThumbprint and RevokedAt.
func (t Tx) UpdateDevice(ctx context.Context, d *store.Device) error {
	err := changeOne(ctx, t.DB, Change{Kind: Devices, Key: d.ID}, updateDevice, nil, d.ID,
		d.Name, string(d.Status), d.KeyThumbprint, micros(d.RevokedAt), d.ID)
	if err != nil {
		return fmt.Errorf("update device %q: %w", d.ID, err)
	}
	return nil
}

// CreateEABKey stores k, filling an empty KID and a zero CreatedAt.
func (t Tx) CreateEABKey(ctx context.Context, k *store.EABKey) error {
	fillID(&k.KID)
	fillTime(&k.CreatedAt)
	_, err := exec(ctx, t.DB, insertEABKey, k.KID, k.DeviceID, k.HMACKey,
		micros(k.CreatedAt), micros(k.UsedAt), k.AccountID, k.Disabled)
	if err != nil {
		return fmt.Errorf("create eab key %q: %w", k.KID, err)
	}
	return nil
}

// GetEABKey returns the EAB key with ID kid.
func (t Tx) GetEABKey(ctx context.Context, kid string) (*store.EABKey, error) {
	return get(ctx, t.DB, getEABKey, scanEABKey, "eab key", kid)
}

// UseEABKey marks an unused key as used by accountID at at (now if zero); a
// key that is already used, or disabled, is ErrConflict.
func (t Tx) UseEABKey(ctx context.Context, kid, accountID string, at time.Time) error {
	fillTime(&at)
	if err := changeOne(ctx, t.DB, None, useEABKey, eabKeyExists, kid, micros(at), accountID, kid); err != nil {
		return fmt.Errorf("use eab key %q: %w", kid, err)
	}
	return nil
}

// DisableDeviceEABKeys makes every unused key of a device unusable.
func (t Tx) DisableDeviceEABKeys(ctx context.Context, deviceID string, at time.Time) error {
	fillTime(&at)
	if _, err := exec(ctx, t.DB, disableDeviceEABKeys, micros(at), deviceID); err != nil {
		return fmt.Errorf("disable eab keys of device %q: %w", deviceID, err)
	}
	return nil
}

// CreateAccount stores a, filling an empty ID and a zero CreatedAt; a
// KeyThumbprint in use is ErrConflict.
func (t Tx) CreateAccount(ctx context.Context, a *store.Account) error {
	fillID(&a.ID)
	fillTime(&a.CreatedAt)
	contact, err := marshal(a.Contact)
	if err == nil {
		_, err = t.DB.Exec(ctx, Change{Accounts, a.ID, a}, insertAccount, a.ID, a.DeviceID, a.KeyThumbprint, a.KeyJWK,
			contact, string(a.Status), a.EABKID, micros(a.CreatedAt))
	}
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with ID id.
func (t Tx) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return get(ctx, t.DB, getAccount, scanAccount, "account", id)
}

// GetAccountByThumbprint returns the account whose key has thumbprint.
func (t Tx) GetAccountByThumbprint(ctx context.Context, thumbprint string) (*store.Account, error) {
	return get(ctx, t.DB, getAccountByThumbprint, scanAccount, "account", thumbprint)
}

// UpdateAccount writes Status, Contact, KeyThumbprint and KeyJWK; a
// thumbprint used by another account is ErrConflict.
func (t Tx) UpdateAccount(ctx context.Context, a *store.Account) error {
	contact, err := marshal(a.Contact)
	if err == nil {
		err = changeOne(ctx, t.DB, Change{Kind: Accounts, Key: a.ID}, updateAccount, nil, a.ID,
			string(a.Status), contact, a.KeyThumbprint, a.KeyJWK, a.ID)
	}
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.ID, err)
	}
	return nil
}

// ListAccountsByDevice returns a device's accounts, oldest first.
func (t Tx) ListAccountsByDevice(ctx context.Context, deviceID string) ([]*store.Account, error) {
	as, err := list(ctx, t.DB, listAccountsByDevice, scanAccount, deviceID)
	if err != nil {
		return nil, fmt.Errorf("list accounts of device %q: %w", deviceID, err)
	}
	return as, nil
}

// CreateOrder stores an order and its authorizations together. It fills
// empty IDs, a zero CreatedAt, a nil o.AuthorizationIDs (from authzs), and
// each authorization's OrderID and, when empty, AccountID.
func (t Tx) CreateOrder(ctx context.Context, o *store.Order, authzs []*store.Authorization) error {
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

func (t Tx) createOrder(ctx context.Context, o *store.Order, authzs []*store.Authorization) error {
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
		if challenges[i], err = MarshalChallenges(a.Challenges); err != nil {
			return err
		}
	}
	ws := make([]Write, 1+len(authzs))
	ws[0] = Write{Change{Orders, o.ID, o}, insertOrder, []any{o.ID, o.AccountID, o.DeviceID, string(o.Status),
		identifiers, authzIDs, o.Profile, o.Replaces, micros(o.Expires), micros(o.CreatedAt),
		o.CertificateSerial, perr, processingSince(o.Status)}}
	for i, a := range authzs {
		ws[1+i] = Write{Change{Authorizations, a.ID, a}, insertAuthorization, []any{a.ID, a.AccountID, a.OrderID,
			a.Identifier.Type, a.Identifier.Value, a.Wildcard, string(a.Status), micros(a.Expires), challenges[i]}}
	}
	// The order and its authorizations go in one batch: on PostgreSQL one
	// round trip instead of one per row.
	if i, err := ExecAll(ctx, t.DB, ws); err != nil {
		if i > 0 {
			return fmt.Errorf("authorization %q: %w", authzs[i-1].ID, err)
		}
		return err
	}
	return nil
}

// GetOrder returns the order with ID id.
func (t Tx) GetOrder(ctx context.Context, id string) (*store.Order, error) {
	return get(ctx, t.DB, getOrder, scanOrder, "order", id)
}

// UpdateOrder writes Status, Error and CertificateSerial, but only if the
// stored status is still expect; otherwise ErrConflict. An order moving to
// processing records when, for FailStaleProcessingOrders.
func (t Tx) UpdateOrder(ctx context.Context, o *store.Order, expect store.Status) error {
	perr, err := marshalProblem(o.Error)
	if err == nil {
		err = changeOne(ctx, t.DB, Change{Kind: Orders, Key: o.ID}, updateOrder, orderExists, o.ID,
			string(o.Status), perr, o.CertificateSerial, processingSince(o.Status), o.ID, string(expect))
	}
	if err != nil {
		return fmt.Errorf("update order %q: %w", o.ID, err)
	}
	return nil
}

// processingSince is the processing_since column of an order with status:
// now for a processing order, else NULL.
func processingSince(status store.Status) any {
	if status != store.StatusProcessing {
		return nil
	}
	return Now().UnixMicro()
}

// ListOrderIDs returns up to limit order IDs of an account, oldest first,
// after the ID after ("" for the start). An after that is no order of the
// account gives no IDs.
func (t Tx) ListOrderIDs(ctx context.Context, accountID, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return []string{}, nil
	}
	var (
		ids []string
		err error
	)
	if after == "" {
		ids, err = list(ctx, t.DB, listOrderIDs, scanString, accountID, limit)
	} else {
		ids, err = list(ctx, t.DB, listOrderIDsAfter, scanString, after, accountID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list orders of account %q: %w", accountID, err)
	}
	return ids, nil
}

// FailProcessingOrders makes every processing order invalid with p. Where
// several instances share the database, use FailStaleProcessingOrders.
func (t Tx) FailProcessingOrders(ctx context.Context, p *problem.Error) (int, error) {
	return FailStaleProcessingOrders(ctx, t.DB, time.Time{}, p)
}

// FailStaleProcessingOrders makes every order invalid with p that has been
// processing since before before (every processing order for a zero
// before), and returns how many it changed. It is the multi-instance form
// of FailProcessingOrders: an instance that crashed while signing leaves
// its orders processing, and a live one fails them once no signer can
// still be working on them.
func FailStaleProcessingOrders(ctx context.Context, db DB, before time.Time, p *problem.Error) (int, error) {
	doc, err := marshalProblem(p)
	if err != nil {
		return 0, fmt.Errorf("fail processing orders: %w", err)
	}
	cutoff := micros(before) // NULL: every processing order
	n, err := db.Exec(ctx, Change{Kind: Orders}, failProcessingOrders, doc, cutoff, cutoff)
	if err != nil {
		return 0, fmt.Errorf("fail processing orders: %w", err)
	}
	return n, nil
}

// CountOpenOrders counts an account's pending, ready and processing orders
// that expire after now, and returns the earliest of their expiries.
func (t Tx) CountOpenOrders(ctx context.Context, accountID string, now time.Time) (int, time.Time, error) {
	var (
		n     int64
		first time.Time
	)
	if err := t.DB.QueryRow(ctx, countOpenOrders, accountID, now.UnixMicro()).Scan(&n, asTime(&first)); err != nil {
		return 0, time.Time{}, fmt.Errorf("count open orders of account %q: %w", accountID, err)
	}
	return int(n), first, nil
}

// GetAuthorization returns the authorization with ID id.
func (t Tx) GetAuthorization(ctx context.Context, id string) (*store.Authorization, error) {
	return get(ctx, t.DB, getAuthorization, scanAuthorization, "authorization", id)
}

// UpdateAuthorization writes Status and Challenges.
func (t Tx) UpdateAuthorization(ctx context.Context, a *store.Authorization) error {
	challenges, err := MarshalChallenges(a.Challenges)
	if err == nil {
		err = changeOne(ctx, t.DB, Change{Kind: Authorizations, Key: a.ID}, updateAuthorization, nil, a.ID,
			string(a.Status), challenges, a.ID)
	}
	if err != nil {
		return fmt.Errorf("update authorization %q: %w", a.ID, err)
	}
	return nil
}

// CreateCertificate records an issued certificate, filling a zero
// CreatedAt; a duplicate serial is ErrConflict.
func (t Tx) CreateCertificate(ctx context.Context, c *store.Certificate) error {
	if c.Serial == "" {
		return errors.New("create certificate: empty serial")
	}
	fillTime(&c.CreatedAt)
	names, err := marshal(c.Names)
	if err == nil {
		_, err = t.DB.Exec(ctx, Change{Certificates, c.Serial, c}, insertCertificate, c.Serial, c.DeviceID,
			c.AccountID, c.OrderID, names, c.Profile, micros(c.NotBefore), micros(c.NotAfter), c.ChainPEM,
			micros(c.CreatedAt), micros(c.RevokedAt), c.Reason, c.ReplacedBy)
	}
	if err != nil {
		return fmt.Errorf("create certificate %q: %w", c.Serial, err)
	}
	return nil
}

// GetCertificate returns the certificate with serial.
func (t Tx) GetCertificate(ctx context.Context, serial string) (*store.Certificate, error) {
	return get(ctx, t.DB, getCertificate, scanCertificate, "certificate", serial)
}

// ListCertificates returns a device's certificates, oldest first.
func (t Tx) ListCertificates(ctx context.Context, deviceID string) ([]*store.Certificate, error) {
	cs, err := list(ctx, t.DB, listCertificates, scanCertificate, deviceID)
	if err != nil {
		return nil, fmt.Errorf("list certificates of device %q: %w", deviceID, err)
	}
	return cs, nil
}

// RevokeCertificate marks a certificate revoked at at (now if zero); one
// already revoked is ErrConflict.
func (t Tx) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) error {
	fillTime(&at)
	err := changeOne(ctx, t.DB, Change{Kind: Certificates, Key: serial}, revokeCertificate, certificateExists, serial,
		micros(at), reason, serial)
	if err != nil {
		return fmt.Errorf("revoke certificate %q: %w", serial, err)
	}
	return nil
}

// SetCertificateReplacedBy records that orderID replaces serial (RFC 9773);
// it overwrites any earlier value.
func (t Tx) SetCertificateReplacedBy(ctx context.Context, serial, orderID string) error {
	err := changeOne(ctx, t.DB, Change{Kind: Certificates, Key: serial}, setCertificateReplacedBy, nil, serial,
		orderID, serial)
	if err != nil {
		return fmt.Errorf("set replacement of certificate %q: %w", serial, err)
	}
	return nil
}

// ListRevoked returns every revoked certificate that has not expired at now
// (NotAfter is not before now), in order of revocation.
func (t Tx) ListRevoked(ctx context.Context, now time.Time) ([]store.RevokedCertificate, error) {
	rs, err := list(ctx, t.DB, listRevoked, scanRevoked, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	return rs, nil
}

// ConsumeNonce records a nonce as used until expires; a nonce used before
// is ErrConflict.
func (t Tx) ConsumeNonce(ctx context.Context, nonce string, expires time.Time) error {
	if _, err := exec(ctx, t.DB, insertNonce, nonce, expires.UnixMicro()); err != nil {
		return fmt.Errorf("consume nonce: %w", err)
	}
	return nil
}

// Secret returns the secret stored under name, storing value first if there
// is none.
func (t Tx) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	v, err := get(ctx, t.DB, getSecret, scanBytes, "secret", name)
	if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	err = t.DB.Atomic(ctx, func(db DB) error {
		if _, err := exec(ctx, db, insertSecret, name, value, Now().UnixMicro()); err != nil {
			return err
		}
		v, err = get(ctx, db, getSecret, scanBytes, "secret", name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store secret %q: %w", name, err)
	}
	return v, nil
}

// LimitTAT returns the theoretical arrival time stored for the rate limit
// key, or the zero time if there is none.
//
// Where reading a row locks it (DB.LocksRows), it first creates the key's
// row if missing (with the time 0, read as none), so that two
// transactions taking the same limit take turns: the second reads what
// the first wrote.
func (t Tx) LimitTAT(ctx context.Context, key string) (time.Time, error) {
	q := getLimitTAT
	if t.DB.LocksRows() {
		// One round trip where there were two: the placeholder's insert
		// and the locking read.
		q = lockLimitTAT
	}
	tat, err := get(ctx, t.DB, q, scanTime, "rate limit", key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && tat.UnixMicro() == 0) {
		return time.Time{}, nil
	}
	return tat, err
}

// SetLimitTAT stores key's theoretical arrival time; a zero tat deletes it.
func (t Tx) SetLimitTAT(ctx context.Context, key string, tat time.Time) error {
	var err error
	if tat.IsZero() {
		_, err = exec(ctx, t.DB, deleteLimitTAT, key)
	} else {
		_, err = exec(ctx, t.DB, setLimitTAT, key, tat.UnixMicro())
	}
	if err != nil {
		return fmt.Errorf("set rate limit %q: %w", key, err)
	}
	return nil
}

// Sweep deletes used nonces that expired before now and rate-limit times
// before now, and makes pending or ready orders (and their pending
// authorizations) that expired before now invalid. It returns how many rows
// it changed. Outside a transaction it deletes in batches, each its own
// transaction, so that a long backlog does not hold up other writes.
func (t Tx) Sweep(ctx context.Context, now time.Time) (int, error) {
	at := now.UnixMicro()
	total := 0
	for _, q := range []*Stmt{sweepNonces, sweepLimitTATs} {
		for {
			n, err := exec(ctx, t.DB, q, at)
			total += n
			if err != nil {
				return total, fmt.Errorf("sweep: %w", err)
			}
			if n < SweepBatch {
				break
			}
		}
	}
	err := t.DB.Atomic(ctx, func(db DB) error {
		// Authorizations first: they are found through their orders'
		// status, which the second statement changes.
		n, err := db.Exec(ctx, Change{Kind: Authorizations}, sweepAuthorizations, at)
		if err != nil {
			return err
		}
		m, err := db.Exec(ctx, Change{Kind: Orders}, sweepOrders, at)
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
