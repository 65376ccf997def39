package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/lantls/lantls/store"
)

// The DNS area (migration 00015): device addresses and publish choices,
// TXT records and the change counter. These statements run rarely (an
// address report, a dns-01 challenge, a poll every few hundred
// milliseconds), so they are not prepared with the hot ones in queries.go.
const (
	upsertDeviceAddresses = `INSERT INTO device_dns (device_id, addresses, publish) VALUES (?, ?, '')
		ON CONFLICT (device_id) DO UPDATE SET addresses = excluded.addresses`
	upsertDevicePublish = `INSERT INTO device_dns (device_id, addresses, publish) VALUES (?, '[]', ?)
		ON CONFLICT (device_id) DO UPDATE SET publish = excluded.publish`
	selectDeviceDNS = `SELECT d.id, d.label, d.status, COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, '')
		FROM devices d LEFT JOIN device_dns x ON x.device_id = d.id LEFT JOIN device_names n ON n.device_id = d.id WHERE d.id = ?`
	selectActiveDeviceDNS = `SELECT d.id, d.label, d.status, COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, '')
		FROM devices d LEFT JOIN device_dns x ON x.device_id = d.id LEFT JOIN device_names n ON n.device_id = d.id
		WHERE d.status = 'active' ORDER BY d.created_at, d.id`
	deleteExpiredTXT = `DELETE FROM dns_txt WHERE expires < ?`
	upsertTXT        = `INSERT INTO dns_txt (name, value, expires) VALUES (?, ?, ?)
		ON CONFLICT (name, value) DO UPDATE SET expires = excluded.expires`
	deleteTXT        = `DELETE FROM dns_txt WHERE name = ? AND value = ?`
	selectTXT        = `SELECT name, value, expires FROM dns_txt WHERE expires >= ? ORDER BY name, value`
	selectDNSVersion = `SELECT version FROM dns_version WHERE id = 1`
)

// SetDeviceAddresses replaces the addresses a device last reported.
func (t *txn) SetDeviceAddresses(ctx context.Context, deviceID string, addrs []netip.Addr) error {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	text, err := marshal(list)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			_, err := t.execText(ctx, upsertDeviceAddresses, deviceID, text)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("set addresses of device %q: %w", deviceID, err)
	}
	return nil
}

// SetDevicePublish sets a device's choice about publishing L.Z.
func (t *txn) SetDevicePublish(ctx context.Context, deviceID string, p store.Publish) error {
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.execText(ctx, upsertDevicePublish, deviceID, string(p))
		return err
	})
	if err != nil {
		return fmt.Errorf("set publishing of device %q: %w", deviceID, err)
	}
	return nil
}

// GetDeviceDNS returns a device's addresses and publish choice.
func (t *txn) GetDeviceDNS(ctx context.Context, deviceID string) (*store.DeviceDNS, error) {
	rows, err := t.queryText(ctx, selectDeviceDNS, deviceID)
	if err != nil {
		return nil, fmt.Errorf("get dns of device %q: %w", deviceID, err)
	}
	ds, err := scanAll(rows, scanDeviceDNS)
	if err == nil && len(ds) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get dns of device %q: %w", deviceID, err)
	}
	return &ds[0], nil
}

// PutTXT adds the TXT record (name, value) or moves its expiry, and
// forgets the records that expired.
func (t *txn) PutTXT(ctx context.Context, name, value string, expires time.Time) error {
	err := t.atomic(ctx, func(t *txn) error {
		if _, err := t.execText(ctx, deleteExpiredTXT, now().UnixMicro()); err != nil {
			return err
		}
		_, err := t.execText(ctx, upsertTXT, name, value, expires.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("put txt %q: %w", name, err)
	}
	return nil
}

// DeleteTXT removes the TXT record (name, value), if there.
func (t *txn) DeleteTXT(ctx context.Context, name, value string) error {
	err := t.atomic(ctx, func(t *txn) error {
		_, err := t.execText(ctx, deleteTXT, name, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete txt %q: %w", name, err)
	}
	return nil
}

// DNSVersion returns the DNS change counter.
func (t *txn) DNSVersion(ctx context.Context) (int64, error) {
	rows, err := t.queryText(ctx, selectDNSVersion)
	if err != nil {
		return 0, fmt.Errorf("dns version: %w", err)
	}
	vs, err := scanAll(rows, func(r scanner) (v int64, err error) { return v, r.Scan(&v) })
	if err == nil && len(vs) != 1 {
		err = errors.New("no version row")
	}
	if err != nil {
		return 0, fmt.Errorf("dns version: %w", err)
	}
	return vs[0], nil
}

// DNSSnapshot returns every active device's DNS data and the TXT records
// unexpired at now, with the change counter read first.
func (t *txn) DNSSnapshot(ctx context.Context, now time.Time) (*store.DNSSnapshot, error) {
	var snap store.DNSSnapshot
	err := t.readTogether(ctx, func(t *txn) error {
		var err error
		if snap.Version, err = t.DNSVersion(ctx); err != nil {
			return err
		}
		rows, err := t.queryText(ctx, selectActiveDeviceDNS)
		if err != nil {
			return err
		}
		if snap.Devices, err = scanAll(rows, scanDeviceDNS); err != nil {
			return err
		}
		if rows, err = t.queryText(ctx, selectTXT, now.UnixMicro()); err != nil {
			return err
		}
		snap.TXT, err = scanAll(rows, scanTXT)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dns snapshot: %w", err)
	}
	return &snap, nil
}

// readTogether runs fn's reads in one read transaction on the reader pool
// (or in the current transaction), so they see one state of the file.
func (t *txn) readTogether(ctx context.Context, fn func(t *txn) error) error {
	if t.tx != nil {
		return fn(t)
	}
	tx, err := t.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(&txn{s: t.s, tx: tx})
}

// execText runs the unprepared write text inside the current transaction.
func (t *txn) execText(ctx context.Context, text string, args ...any) (int, error) {
	ctx, err := brief(ctx)
	if err != nil {
		return 0, err
	}
	res, err := t.tx.ExecContext(ctx, text, args...)
	if err != nil {
		return 0, classify(err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// queryText runs the unprepared read text in the current transaction or on
// the reader pool.
func (t *txn) queryText(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	if t.tx != nil {
		return t.tx.QueryContext(ctx, text, args...)
	}
	return t.s.r.QueryContext(ctx, text, args...)
}

// scanAll scans every row and closes rows; no rows is an empty, non-nil
// slice.
func scanAll[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanDeviceDNS(r scanner) (store.DeviceDNS, error) {
	var (
		d             store.DeviceDNS
		status, addrs string
	)
	if err := r.Scan(&d.DeviceID, &d.Label, &status, &addrs, &d.Publish, &d.ShortName); err != nil {
		return d, err
	}
	d.Active = store.Status(status) == store.StatusActive
	if addrs == "[]" {
		return d, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(addrs), &list); err != nil {
		return d, fmt.Errorf("device %q addresses: %w", d.DeviceID, err)
	}
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return d, fmt.Errorf("device %q addresses: %w", d.DeviceID, err)
		}
		d.Addresses = append(d.Addresses, a)
	}
	return d, nil
}

func scanTXT(r scanner) (store.TXTRecord, error) {
	var (
		x       store.TXTRecord
		expires sql.NullInt64
	)
	err := r.Scan(&x.Name, &x.Value, &expires)
	x.Expires = timeOf(expires)
	return x, err
}
