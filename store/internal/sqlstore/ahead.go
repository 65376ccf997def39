package sqlstore

import (
	"time"

	"github.com/lantls/lantls/store"
)

// Reads ahead (store.ReadAhead): the rows a request reads after a first
// one, for a backend that sends several statements in one round trip
// (PostgreSQL's batches) to read them with the first. Each statement
// names its row through the first one's key, so none waits for another's
// answer.
var (
	authorizationsOfOrder = stmt(`SELECT ` + authorizationColumns + ` FROM authorizations WHERE order_id = ?`)
	deviceOfOrder         = stmt(`SELECT ` + deviceColumns + ` FROM devices
		WHERE id = (SELECT device_id FROM orders WHERE id = ?)`)
	shortNameOfOrder = stmt(`SELECT short_name, mdns FROM device_names
		WHERE device_id = (SELECT device_id FROM orders WHERE id = ?)`)
	attestPolicyOfOrder = stmt(`SELECT model, rule, actor, updated_at FROM attest_policies
		WHERE model = (SELECT model FROM devices WHERE id = (SELECT device_id FROM orders WHERE id = ?))`)
	deviceOfAccount = stmt(`SELECT ` + deviceColumns + ` FROM devices
		WHERE id = (SELECT device_id FROM accounts WHERE id = ?)`)
	attestPolicyOfAccount = stmt(`SELECT model, rule, actor, updated_at FROM attest_policies
		WHERE model = (SELECT model FROM devices WHERE id = (SELECT device_id FROM accounts WHERE id = ?))`)
	deviceOfEABKey = stmt(`SELECT ` + deviceColumns + ` FROM devices
		WHERE id = (SELECT device_id FROM eab_keys WHERE kid = ?)`)
)

// The kinds of rows read ahead (store.AheadRows), each kept by its key.
const (
	AheadAccount       = "account"
	AheadCertificate   = "certificate"
	AheadOrder         = "order"
	AheadAuthorization = "authorization"
	AheadDevice        = "device"
	AheadEABKey        = "eab key"
	AheadShortName     = "short name"       // by device ID; a store.ShortName
	AheadAttestPolicy  = "attestation rule" // by model; nil for none
)

// A Read is one statement of a batch read ahead: Row is called with each
// of its rows, then Done, if set, once.
type Read struct {
	Stmt *Stmt
	Args []any
	Row  func(Scanner) error
	Done func()
}

// keep returns a Read's Row that scans a row with scan and keeps it in
// rows as kind under key(row), and calls then, if set, with it.
func keep[T any](rows *store.AheadRows, kind string, scan func(Scanner) (T, error), key func(T) string, then func(T)) func(Scanner) error {
	return func(s Scanner) error {
		v, err := scan(s)
		if err != nil {
			return err
		}
		rows.Keep(kind, key(v), v)
		if then != nil {
			then(v)
		}
		return nil
	}
}

// OrderAhead is the order id and what finalize reads after it: its
// authorizations, its device, the device's short name (none kept as the
// zero ShortName, as GetDeviceShortName answers) and its model's
// attestation rule (none kept as nil).
func OrderAhead(id string, rows *store.AheadRows) []Read {
	var o *store.Order
	var dev *store.Device
	var names, rule bool
	return []Read{
		{Stmt: getOrder, Args: []any{id},
			Row: keep(rows, AheadOrder, scanOrder, func(o *store.Order) string { return o.ID }, func(v *store.Order) { o = v })},
		{Stmt: authorizationsOfOrder, Args: []any{id},
			Row: keep(rows, AheadAuthorization, scanAuthorization, func(a *store.Authorization) string { return a.ID }, nil)},
		{Stmt: deviceOfOrder, Args: []any{id},
			Row: keep(rows, AheadDevice, scanDevice, func(d *store.Device) string { return d.ID }, func(v *store.Device) { dev = v })},
		{Stmt: shortNameOfOrder, Args: []any{id},
			Row: func(s Scanner) error {
				n, err := scanShortName(s)
				if err == nil && o != nil {
					names = true
					rows.Keep(AheadShortName, o.DeviceID, n)
				}
				return err
			},
			Done: func() {
				if !names && o != nil {
					rows.Keep(AheadShortName, o.DeviceID, store.ShortName{})
				}
			}},
		{Stmt: attestPolicyOfOrder, Args: []any{id},
			Row: keep(rows, AheadAttestPolicy, scanAttestPolicy, func(p *store.AttestPolicy) string { return p.Model },
				func(*store.AttestPolicy) { rule = true }),
			Done: func() {
				if !rule && dev != nil {
					rows.Keep(AheadAttestPolicy, dev.Model, nil)
				}
			}},
	}
}

// AccountAhead is the account id and what the caller said it reads next
// (store.Expect).
func AccountAhead(id string, rows *store.AheadRows) []Read {
	reads := []Read{{Stmt: getAccount, Args: []any{id},
		Row: keep(rows, AheadAccount, scanAccount, func(a *store.Account) string { return a.ID }, nil)}}
	switch next, key := rows.Expected(); next {
	case store.NextOrder:
		reads = append(reads, Read{Stmt: getOrder, Args: []any{key},
			Row: keep(rows, AheadOrder, scanOrder, func(o *store.Order) string { return o.ID }, nil)})
	case store.NextFinalize:
		reads = append(reads, OrderAhead(key, rows)...)
	case store.NextAuthorization:
		reads = append(reads, Read{Stmt: getAuthorization, Args: []any{key},
			Row: keep(rows, AheadAuthorization, scanAuthorization, func(a *store.Authorization) string { return a.ID }, nil)})
	case store.NextCertificate:
		reads = append(reads, Read{Stmt: getCertificate, Args: []any{key},
			Row: keep(rows, AheadCertificate, scanCertificate, func(c *store.Certificate) string { return c.Serial }, nil)})
	case store.NextAccountDevice:
		reads = append(reads, deviceAhead(deviceOfAccount, attestPolicyOfAccount, id, rows)...)
	}
	return reads
}

// deviceAhead reads a device with dev and its model's attestation rule
// with rule, both given key.
func deviceAhead(dev, rule *Stmt, key string, rows *store.AheadRows) []Read {
	var d *store.Device
	var found bool
	return []Read{
		{Stmt: dev, Args: []any{key},
			Row: keep(rows, AheadDevice, scanDevice, func(d *store.Device) string { return d.ID }, func(v *store.Device) { d = v })},
		{Stmt: rule, Args: []any{key},
			Row: keep(rows, AheadAttestPolicy, scanAttestPolicy, func(p *store.AttestPolicy) string { return p.Model },
				func(*store.AttestPolicy) { found = true }),
			Done: func() {
				if !found && d != nil {
					rows.Keep(AheadAttestPolicy, d.Model, nil)
				}
			}},
	}
}

// EABKeyAhead is the EAB key kid and its device, which newAccount reads
// after it.
func EABKeyAhead(kid string, rows *store.AheadRows) []Read {
	return []Read{
		{Stmt: getEABKey, Args: []any{kid},
			Row: keep(rows, AheadEABKey, scanEABKey, func(k *store.EABKey) string { return k.KID }, nil)},
		{Stmt: deviceOfEABKey, Args: []any{kid},
			Row: keep(rows, AheadDevice, scanDevice, func(d *store.Device) string { return d.ID }, nil)},
	}
}

// LimitAhead is the locking read of the rate limit key that LimitTAT
// makes inside a transaction where reading locks rows, for a backend that
// sends it with another statement; keep gets the time it read.
func LimitAhead(key string, keep func(time.Time)) Read {
	return Read{Stmt: lockLimitTAT, Args: []any{key}, Row: func(s Scanner) error {
		tat, err := scanTime(s)
		if err != nil {
			return err
		}
		if tat.UnixMicro() == 0 {
			tat = time.Time{}
		}
		keep(tat)
		return nil
	}}
}

// OpenOrdersAhead is the count CountOpenOrders makes, for a backend that
// sends it with another statement; keep gets the count and the first
// expiry.
func OpenOrdersAhead(accountID string, now time.Time, keep func(n int, firstExpiry time.Time)) Read {
	return Read{Stmt: countOpenOrders, Args: []any{accountID, now.UnixMicro()}, Row: func(s Scanner) error {
		var (
			n     int64
			first time.Time
		)
		if err := s.Scan(&n, asTime(&first)); err != nil {
			return err
		}
		keep(int(n), first)
		return nil
	}}
}
