package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// txn implements store.Tx. With tx nil it works directly on the pool: each
// method one statement, or one transaction of its own where it needs
// several. With tx set, every statement runs inside that transaction.
type txn struct {
	s          *Store
	tx         pgx.Tx
	savepoints bool // wrap each write in a savepoint (inside Update's fn)
	// retry is set when a statement of the transaction failed in a way
	// that running the whole transaction again may cure (a serialization
	// failure, a deadlock): Update then runs fn again, whatever fn made of
	// the error.
	retry bool
}

var _ store.Tx = (*txn)(nil)

// querier is what a pool and a transaction both run statements on.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// EnsureOwner returns the owner named name, creating it if missing.
func (t *txn) EnsureOwner(ctx context.Context, name string) (*store.Owner, error) {
	o, err := t.GetOwnerByName(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return o, err
	}
	err = t.atomic(ctx, func(t *txn) error {
		// Someone else may have created it since: then this does nothing
		// and the read below finds theirs.
		if _, err := t.exec(ctx, qInsertOwner, store.NewID(now()), name, now().UnixMicro()); err != nil {
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
	return getRow(ctx, t, qGetOwner, scanOwner, "owner", id)
}

// GetOwnerByName returns the owner named name.
func (t *txn) GetOwnerByName(ctx context.Context, name string) (*store.Owner, error) {
	return getRow(ctx, t, qGetOwnerByName, scanOwner, "owner", name)
}

// CreateDevice stores d, filling an empty ID and a zero CreatedAt.
func (t *txn) CreateDevice(ctx context.Context, d *store.Device) error {
	fillID(&d.ID)
	fillTime(&d.CreatedAt)
	_, err := t.exec(ctx, qInsertDevice, d.ID, d.Label, d.OwnerID, d.Name, d.Model,
		d.KeyThumbprint, string(d.Status), micros(d.CreatedAt), micros(d.RevokedAt))
	if err != nil {
		return fmt.Errorf("create device %q: %w", d.ID, err)
	}
	return nil
}

// GetDevice returns the device with ID id.
func (t *txn) GetDevice(ctx context.Context, id string) (*store.Device, error) {
	return getRow(ctx, t, qGetDevice, scanDevice, "device", id)
}

// GetDeviceByLabel returns the device labelled label.
func (t *txn) GetDeviceByLabel(ctx context.Context, label string) (*store.Device, error) {
	return getRow(ctx, t, qGetDeviceByLabel, scanDevice, "device", label)
}

// ListDevices returns devices oldest first; an empty OwnerID lists all.
func (t *txn) ListDevices(ctx context.Context, f store.DeviceFilter) ([]*store.Device, error) {
	var (
		ds  []*store.Device
		err error
	)
	if f.OwnerID == "" {
		ds, err = list(ctx, t, qListDevices, scanDevice)
	} else {
		ds, err = list(ctx, t, qListDevicesByOwner, scanDevice, f.OwnerID)
	}
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// UpdateDevice writes Name, Status, KeyThumbprint and RevokedAt.
func (t *txn) UpdateDevice(ctx context.Context, d *store.Device) error {
	err := t.changeOne(ctx, qUpdateDevice, "", d.ID,
		d.Name, string(d.Status), d.KeyThumbprint, micros(d.RevokedAt), d.ID)
	if err != nil {
		return fmt.Errorf("update device %q: %w", d.ID, err)
	}
	return nil
}

// CreateEABKey stores k, filling an empty KID and a zero CreatedAt.
func (t *txn) CreateEABKey(ctx context.Context, k *store.EABKey) error {
	fillID(&k.KID)
	fillTime(&k.CreatedAt)
	_, err := t.exec(ctx, qInsertEABKey, k.KID, k.DeviceID, k.HMACKey,
		micros(k.CreatedAt), micros(k.UsedAt), k.AccountID, k.Disabled)
	if err != nil {
		return fmt.Errorf("create eab key %q: %w", k.KID, err)
	}
	return nil
}

// GetEABKey returns the EAB key with ID kid.
func (t *txn) GetEABKey(ctx context.Context, kid string) (*store.EABKey, error) {
	return getRow(ctx, t, qGetEABKey, scanEABKey, "eab key", kid)
}

// UseEABKey marks an unused key as used by accountID at at (now if zero); a
// key that is already used, or disabled, is ErrConflict.
func (t *txn) UseEABKey(ctx context.Context, kid, accountID string, at time.Time) error {
	fillTime(&at)
	if err := t.changeOne(ctx, qUseEABKey, qEABKeyExists, kid, micros(at), accountID, kid); err != nil {
		return fmt.Errorf("use eab key %q: %w", kid, err)
	}
	return nil
}

// DisableDeviceEABKeys makes every unused key of a device unusable.
func (t *txn) DisableDeviceEABKeys(ctx context.Context, deviceID string, at time.Time) error {
	fillTime(&at)
	if _, err := t.exec(ctx, qDisableDeviceEABKeys, micros(at), deviceID); err != nil {
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
		_, err = t.exec(ctx, qInsertAccount, a.ID, a.DeviceID, a.KeyThumbprint, a.KeyJWK,
			contact, string(a.Status), a.EABKID, micros(a.CreatedAt))
	}
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with ID id.
func (t *txn) GetAccount(ctx context.Context, id string) (*store.Account, error) {
	return getRow(ctx, t, qGetAccount, scanAccount, "account", id)
}

// GetAccountByThumbprint returns the account whose key has thumbprint.
func (t *txn) GetAccountByThumbprint(ctx context.Context, thumbprint string) (*store.Account, error) {
	return getRow(ctx, t, qGetAccountByThumbprint, scanAccount, "account", thumbprint)
}

// UpdateAccount writes Status, Contact, KeyThumbprint and KeyJWK; a
// thumbprint used by another account is ErrConflict.
func (t *txn) UpdateAccount(ctx context.Context, a *store.Account) error {
	contact, err := marshal(a.Contact)
	if err == nil {
		err = t.changeOne(ctx, qUpdateAccount, "", a.ID,
			string(a.Status), contact, a.KeyThumbprint, a.KeyJWK, a.ID)
	}
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.ID, err)
	}
	return nil
}

// ListAccountsByDevice returns a device's accounts, oldest first.
func (t *txn) ListAccountsByDevice(ctx context.Context, deviceID string) ([]*store.Account, error) {
	as, err := list(ctx, t, qListAccountsByDevice, scanAccount, deviceID)
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
		_, err := t.exec(ctx, qInsertOrder, o.ID, o.AccountID, o.DeviceID, string(o.Status),
			identifiers, authzIDs, o.Profile, o.Replaces, micros(o.Expires), micros(o.CreatedAt),
			o.CertificateSerial, perr, processingSince(o.Status))
		if err != nil {
			return err
		}
		for i, a := range authzs {
			_, err := t.exec(ctx, qInsertAuthorization, a.ID, a.AccountID, a.OrderID, a.Identifier.Type,
				a.Identifier.Value, a.Wildcard, string(a.Status), micros(a.Expires), challenges[i])
			if err != nil {
				return fmt.Errorf("authorization %q: %w", a.ID, err)
			}
		}
		return nil
	})
}

// GetOrder returns the order with ID id.
func (t *txn) GetOrder(ctx context.Context, id string) (*store.Order, error) {
	return getRow(ctx, t, qGetOrder, scanOrder, "order", id)
}

// UpdateOrder writes Status, Error and CertificateSerial, but only if the
// stored status is still expect; otherwise ErrConflict. An order moving to
// processing records when, for FailStaleProcessingOrders.
func (t *txn) UpdateOrder(ctx context.Context, o *store.Order, expect store.Status) error {
	perr, err := marshalProblem(o.Error)
	if err == nil {
		err = t.changeOne(ctx, qUpdateOrder, qOrderExists, o.ID,
			string(o.Status), perr, o.CertificateSerial, processingSince(o.Status), o.ID, string(expect))
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
		ids, err = list(ctx, t, qListOrderIDs, scanString, accountID, limit)
	} else {
		ids, err = list(ctx, t, qListOrderIDsAfter, scanString, after, accountID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list orders of account %q: %w", accountID, err)
	}
	return ids, nil
}

// FailProcessingOrders makes every processing order invalid with p. Where
// several instances share the database, use FailStaleProcessingOrders.
func (t *txn) FailProcessingOrders(ctx context.Context, p *problem.Error) (int, error) {
	return t.failProcessing(ctx, p, time.Time{})
}

// FailStaleProcessingOrders makes every order invalid with p that has been
// processing since before before, and returns how many it changed. It is
// the multi-instance form of FailProcessingOrders: an instance that crashed
// while signing leaves its orders processing, and a live one fails them
// once no signer can still be working on them.
func (t *txn) FailStaleProcessingOrders(ctx context.Context, before time.Time, p *problem.Error) (int, error) {
	return t.failProcessing(ctx, p, before)
}

func (t *txn) failProcessing(ctx context.Context, p *problem.Error, before time.Time) (int, error) {
	doc, err := marshalProblem(p)
	if err != nil {
		return 0, fmt.Errorf("fail processing orders: %w", err)
	}
	var cutoff any // no cutoff: every processing order
	if !before.IsZero() {
		cutoff = before.UnixMicro()
	}
	n, err := t.exec(ctx, qFailProcessingOrders, doc, cutoff)
	if err != nil {
		return 0, fmt.Errorf("fail processing orders: %w", err)
	}
	return n, nil
}

// CountOpenOrders counts an account's pending, ready and processing orders
// that expire after now, and returns the earliest of their expiries.
func (t *txn) CountOpenOrders(ctx context.Context, accountID string, now time.Time) (int, time.Time, error) {
	type counted struct {
		n     int
		first time.Time
	}
	c, err := get(ctx, t, qCountOpenOrders, func(r scanner) (counted, error) {
		var n int64
		var first *int64
		err := r.Scan(&n, &first)
		c := counted{n: int(n)}
		if first != nil {
			c.first = time.UnixMicro(*first).UTC()
		}
		return c, err
	}, "open orders of account", accountID, now.UnixMicro())
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count open orders of account %q: %w", accountID, err)
	}
	return c.n, c.first, nil
}

// GetAuthorization returns the authorization with ID id.
func (t *txn) GetAuthorization(ctx context.Context, id string) (*store.Authorization, error) {
	return getRow(ctx, t, qGetAuthorization, scanAuthorization, "authorization", id)
}

// UpdateAuthorization writes Status and Challenges.
func (t *txn) UpdateAuthorization(ctx context.Context, a *store.Authorization) error {
	challenges, err := marshalChallenges(a.Challenges)
	if err == nil {
		err = t.changeOne(ctx, qUpdateAuthorization, "", a.ID, string(a.Status), challenges, a.ID)
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
		_, err = t.exec(ctx, qInsertCertificate, c.Serial, c.DeviceID, c.AccountID, c.OrderID,
			names, c.Profile, micros(c.NotBefore), micros(c.NotAfter), c.ChainPEM, micros(c.CreatedAt),
			micros(c.RevokedAt), c.Reason, c.ReplacedBy)
	}
	if err != nil {
		return fmt.Errorf("create certificate %q: %w", c.Serial, err)
	}
	return nil
}

// GetCertificate returns the certificate with serial.
func (t *txn) GetCertificate(ctx context.Context, serial string) (*store.Certificate, error) {
	return getRow(ctx, t, qGetCertificate, scanCertificate, "certificate", serial)
}

// ListCertificates returns a device's certificates, oldest first.
func (t *txn) ListCertificates(ctx context.Context, deviceID string) ([]*store.Certificate, error) {
	cs, err := list(ctx, t, qListCertificates, scanCertificate, deviceID)
	if err != nil {
		return nil, fmt.Errorf("list certificates of device %q: %w", deviceID, err)
	}
	return cs, nil
}

// RevokeCertificate marks a certificate revoked at at (now if zero); one
// already revoked is ErrConflict.
func (t *txn) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) error {
	fillTime(&at)
	if err := t.changeOne(ctx, qRevokeCertificate, qCertificateExists, serial, micros(at), reason, serial); err != nil {
		return fmt.Errorf("revoke certificate %q: %w", serial, err)
	}
	return nil
}

// SetCertificateReplacedBy records that orderID replaces serial (RFC 9773);
// it overwrites any earlier value.
func (t *txn) SetCertificateReplacedBy(ctx context.Context, serial, orderID string) error {
	if err := t.changeOne(ctx, qSetCertificateReplacedBy, "", serial, orderID, serial); err != nil {
		return fmt.Errorf("set replacement of certificate %q: %w", serial, err)
	}
	return nil
}

// ListRevoked returns every revoked certificate that has not expired at now
// (NotAfter is not before now), in order of revocation.
func (t *txn) ListRevoked(ctx context.Context, now time.Time) ([]store.RevokedCertificate, error) {
	rs, err := list(ctx, t, qListRevoked, scanRevoked, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	return rs, nil
}

// ConsumeNonce records a nonce as used until expires; a nonce used before
// is ErrConflict.
func (t *txn) ConsumeNonce(ctx context.Context, nonce string, expires time.Time) error {
	if _, err := t.exec(ctx, qInsertNonce, nonce, expires.UnixMicro()); err != nil {
		return fmt.Errorf("consume nonce: %w", err)
	}
	return nil
}

// Secret returns the secret stored under name, storing value first if there
// is none.
func (t *txn) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	v, err := get(ctx, t, qGetSecret, scanBytes, "secret", name)
	if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	err = t.atomic(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, qInsertSecret, name, value, now().UnixMicro()); err != nil {
			return err
		}
		v, err = get(ctx, t, qGetSecret, scanBytes, "secret", name)
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
// Inside a transaction it locks the key's row, creating it (with the time
// 0, read as none) if missing, so that two transactions taking the same
// limit take turns: the second reads what the first wrote.
func (t *txn) LimitTAT(ctx context.Context, key string) (time.Time, error) {
	if t.tx != nil {
		if _, err := t.exec(ctx, qInsertLimitPlaceholder, key); err != nil {
			return time.Time{}, fmt.Errorf("lock rate limit %q: %w", key, err)
		}
	}
	tat, err := getRow(ctx, t, qGetLimitTAT, scanTime, "rate limit", key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && tat.UnixMicro() == 0) {
		return time.Time{}, nil
	}
	return tat, err
}

// SetLimitTAT stores key's theoretical arrival time; a zero tat deletes it.
func (t *txn) SetLimitTAT(ctx context.Context, key string, tat time.Time) error {
	var err error
	if tat.IsZero() {
		_, err = t.exec(ctx, qDeleteLimitTAT, key)
	} else {
		_, err = t.exec(ctx, qSetLimitTAT, key, tat.UnixMicro())
	}
	if err != nil {
		return fmt.Errorf("set rate limit %q: %w", key, err)
	}
	return nil
}

// Sweep deletes used nonces that expired before now and rate-limit times
// before now, and makes pending or ready orders (and their pending
// authorizations) that expired before now invalid. It returns how many rows
// it changed. Outside Update it deletes in batches, each its own
// statement, so that a long backlog does not hold locks for long.
func (t *txn) Sweep(ctx context.Context, now time.Time) (int, error) {
	at := now.UnixMicro()
	total := 0
	for _, q := range []string{qSweepNonces, qSweepLimitTATs} {
		n, err := t.deleteAll(ctx, q, at)
		total += n
		if err != nil {
			return total, fmt.Errorf("sweep: %w", err)
		}
	}
	err := t.atomic(ctx, func(t *txn) error {
		// Authorizations first: they are found through their orders'
		// status, which the second statement changes.
		n, err := t.exec(ctx, qSweepAuthorizations, at)
		if err != nil {
			return err
		}
		m, err := t.exec(ctx, qSweepOrders, at)
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
func (t *txn) deleteAll(ctx context.Context, q string, args ...any) (int, error) {
	total := 0
	for {
		n, err := t.exec(ctx, q, args...)
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}

// atomic runs fn so that all its statements commit together: in the current
// transaction, or in one of their own.
func (t *txn) atomic(ctx context.Context, fn func(t *txn) error) error {
	if t.tx != nil {
		return fn(t)
	}
	return t.s.update(ctx, false, fn)
}

// q returns what statements run on: the transaction, or the pool.
func (t *txn) q() querier {
	if t.tx != nil {
		return t.tx
	}
	return t.s.pool
}

// exec runs the write sql and returns how many rows it changed. Inside
// Update's fn the write runs in a savepoint, sent with it in one round
// trip, so that a failed write leaves the transaction usable.
func (t *txn) exec(ctx context.Context, sql string, args ...any) (int, error) {
	ctx, err := brief(ctx)
	if err != nil {
		return 0, err
	}
	if !t.savepoints {
		tag, err := t.q().Exec(ctx, sql, args...)
		if err != nil {
			return 0, t.classify(err)
		}
		return int(tag.RowsAffected()), nil
	}
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT one_write")
	b.Queue(sql, args...)
	b.Queue("RELEASE SAVEPOINT one_write")
	br := t.tx.SendBatch(ctx, b)
	var tag pgconn.CommandTag
	_, err = br.Exec()
	if err == nil {
		tag, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if _, rerr := t.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT one_write; RELEASE SAVEPOINT one_write"); rerr != nil {
			return 0, errors.Join(t.classify(err), rerr)
		}
		return 0, t.classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// changeOne runs the write q, which must change the row with key key. If it
// changes nothing, the row is missing (ErrNotFound) or, when the query
// exists finds it, failed q's precondition (ErrConflict). An empty exists
// means every unchanged row is missing.
func (t *txn) changeOne(ctx context.Context, q, exists, key string, args ...any) error {
	n, err := t.exec(ctx, q, args...)
	if err != nil || n > 0 {
		return err
	}
	if exists == "" {
		return store.ErrNotFound
	}
	var one int
	switch err := t.q().QueryRow(context.WithoutCancel(ctx), exists, key).Scan(&one); {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return t.classify(err)
	}
	return store.ErrConflict
}

// getRow is get for a query of one row of one table by its key. Inside a
// transaction it also locks the row until the transaction ends (FOR
// UPDATE): a transaction that reads a row to decide what to write (is the
// device still active? is the order still ready?) holds off every other
// that reads the same row to decide, and the one that waits then reads
// what the first committed. That is how Update's transactions, in READ
// COMMITTED, behave as if one writer ran them (see Store).
func getRow[T any](ctx context.Context, t *txn, q string, scan func(scanner) (T, error), what, key string) (T, error) {
	if t.tx != nil {
		q += " FOR UPDATE"
	}
	return get(ctx, t, q, scan, what, key)
}

// get runs the single-row query q with key (and more arguments) and scans
// its row.
func get[T any](ctx context.Context, t *txn, q string, scan func(scanner) (T, error), what, key string, more ...any) (T, error) {
	var v T
	ctx, err := brief(ctx)
	if err == nil {
		v, err = scan(t.q().QueryRow(ctx, q, append([]any{key}, more...)...))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("get %s %q: %w", what, key, t.classify(err))
	}
	return v, nil
}

// list runs the query q and scans every row. It returns an empty, non-nil
// slice when there are none, so that callers writing JSON send [] rather
// than null.
func list[T any](ctx context.Context, t *txn, q string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := t.q().Query(ctx, q, args...)
	if err != nil {
		return nil, t.classify(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, t.classify(rows.Err())
}

// brief returns ctx for a statement that touches a row or two: an error if
// ctx has already ended, else ctx without its cancellation. pgx answers a
// cancellation during a statement by closing the connection, a high price
// for a statement that takes a fraction of a millisecond.
func brief(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// classify is the package's classify, and marks the transaction for
// another run when err says it would succeed then.
func (t *txn) classify(err error) error {
	if retryable(err) {
		t.retry = true
	}
	return classify(err)
}

// classify turns PostgreSQL's constraint errors into the store's: a broken
// uniqueness is ErrConflict, a reference to a missing row ErrNotFound.
func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
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

// processingSince is the processing_since column of an order with status:
// now for a processing order, else NULL.
func processingSince(status store.Status) any {
	if status != store.StatusProcessing {
		return nil
	}
	return now().UnixMicro()
}

// micros is t as stored: unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeOf reverses micros.
func timeOf(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.UnixMicro(*n).UTC()
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

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanOwner(r scanner) (*store.Owner, error) {
	var (
		o       store.Owner
		created *int64
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
		status           string
		created, revoked *int64
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

func scanEABKey(r scanner) (*store.EABKey, error) {
	var (
		k             store.EABKey
		created, used *int64
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
		a               store.Account
		contact, status string
		created         *int64
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

func scanOrder(r scanner) (*store.Order, error) {
	var (
		o                             store.Order
		status, identifiers, authzIDs string
		problemJSON                   *string
		expires, created              *int64
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
	if problemJSON != nil {
		if err := json.Unmarshal([]byte(*problemJSON), &o.Error); err != nil {
			return nil, fmt.Errorf("order %q error: %w", o.ID, err)
		}
	}
	return &o, nil
}

func scanAuthorization(r scanner) (*store.Authorization, error) {
	var (
		a                  store.Authorization
		status, challenges string
		expires            *int64
	)
	err := r.Scan(&a.ID, &a.AccountID, &a.OrderID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard,
		&status, &expires, &challenges)
	if err != nil {
		return nil, err
	}
	a.Status = store.Status(status)
	a.Expires = timeOf(expires)
	if err := json.Unmarshal([]byte(challenges), &a.Challenges); err != nil {
		return nil, fmt.Errorf("authorization %q challenges: %w", a.ID, err)
	}
	for i := range a.Challenges {
		a.Challenges[i].Validated = truncate(a.Challenges[i].Validated)
	}
	return &a, nil
}

func scanCertificate(r scanner) (*store.Certificate, error) {
	var (
		c                                     store.Certificate
		names                                 string
		reason                                int32
		notBefore, notAfter, created, revoked *int64
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

func scanRevoked(r scanner) (store.RevokedCertificate, error) {
	var (
		c       store.RevokedCertificate
		reason  int32
		revoked *int64
	)
	if err := r.Scan(&c.Serial, &revoked, &reason); err != nil {
		return c, err
	}
	c.Reason = int(reason)
	c.RevokedAt = timeOf(revoked)
	return c, nil
}

func scanString(r scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

func scanTime(r scanner) (time.Time, error) {
	var n *int64
	err := r.Scan(&n)
	return timeOf(n), err
}

func scanBytes(r scanner) ([]byte, error) {
	var b []byte
	err := r.Scan(&b)
	return b, err
}
