package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lantls/lantls/store"
)

// The DNS area (migration 00015): device addresses and publish choices,
// TXT records and the change counter that every instance's DNS index
// polls, so that a change made through one instance reaches the answers
// of all.
const (
	qUpsertDeviceAddresses = `INSERT INTO device_dns (device_id, addresses, publish) VALUES ($1, $2, '')
		ON CONFLICT (device_id) DO UPDATE SET addresses = excluded.addresses`
	qUpsertDevicePublish = `INSERT INTO device_dns (device_id, addresses, publish) VALUES ($1, '[]', $2)
		ON CONFLICT (device_id) DO UPDATE SET publish = excluded.publish`
	qSelectDeviceDNS = `SELECT d.id, d.label, d.status, COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, '')
		FROM devices d LEFT JOIN device_dns x ON x.device_id = d.id LEFT JOIN device_names n ON n.device_id = d.id WHERE d.id = $1`
	qSelectActiveDeviceDNS = `SELECT d.id, d.label, d.status, COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, '')
		FROM devices d LEFT JOIN device_dns x ON x.device_id = d.id LEFT JOIN device_names n ON n.device_id = d.id
		WHERE d.status = 'active' ORDER BY d.created_at, d.id`
	qDeleteExpiredTXT = `DELETE FROM dns_txt WHERE expires < $1`
	qUpsertTXT        = `INSERT INTO dns_txt (name, value, expires) VALUES ($1, $2, $3)
		ON CONFLICT (name, value) DO UPDATE SET expires = excluded.expires`
	qDeleteTXT        = `DELETE FROM dns_txt WHERE name = $1 AND value = $2`
	qSelectTXT        = `SELECT name, value, expires FROM dns_txt WHERE expires >= $1 ORDER BY name, value`
	qSelectDNSVersion = `SELECT version FROM dns_version WHERE id = 1`
)

// SetDeviceAddresses replaces the addresses a device last reported.
func (t *txn) SetDeviceAddresses(ctx context.Context, deviceID string, addrs []netip.Addr) error {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	text, err := marshal(list)
	if err == nil {
		_, err = t.exec(ctx, qUpsertDeviceAddresses, deviceID, text)
	}
	if err != nil {
		return fmt.Errorf("set addresses of device %q: %w", deviceID, err)
	}
	return nil
}

// SetDevicePublish sets a device's choice about publishing L.Z.
func (t *txn) SetDevicePublish(ctx context.Context, deviceID string, p store.Publish) error {
	if _, err := t.exec(ctx, qUpsertDevicePublish, deviceID, string(p)); err != nil {
		return fmt.Errorf("set publishing of device %q: %w", deviceID, err)
	}
	return nil
}

// GetDeviceDNS returns a device's addresses and publish choice.
func (t *txn) GetDeviceDNS(ctx context.Context, deviceID string) (*store.DeviceDNS, error) {
	d, err := get(ctx, t, qSelectDeviceDNS, scanDeviceDNS, "dns of device", deviceID)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// PutTXT adds the TXT record (name, value) or moves its expiry, and
// forgets the records that expired.
func (t *txn) PutTXT(ctx context.Context, name, value string, expires time.Time) error {
	err := t.atomic(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, qDeleteExpiredTXT, now().UnixMicro()); err != nil {
			return err
		}
		_, err := t.exec(ctx, qUpsertTXT, name, value, expires.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("put txt %q: %w", name, err)
	}
	return nil
}

// DeleteTXT removes the TXT record (name, value), if there.
func (t *txn) DeleteTXT(ctx context.Context, name, value string) error {
	if _, err := t.exec(ctx, qDeleteTXT, name, value); err != nil {
		return fmt.Errorf("delete txt %q: %w", name, err)
	}
	return nil
}

// DNSVersion returns the DNS change counter.
func (t *txn) DNSVersion(ctx context.Context) (int64, error) {
	var v int64
	ctx, err := brief(ctx)
	if err == nil {
		err = t.q().QueryRow(ctx, qSelectDNSVersion).Scan(&v)
	}
	if err != nil {
		return 0, fmt.Errorf("dns version: %w", t.classify(err))
	}
	return v, nil
}

// DNSSnapshot returns every active device's DNS data and the TXT records
// unexpired at now, with the change counter read first, all from one
// snapshot of the database.
func (t *txn) DNSSnapshot(ctx context.Context, now time.Time) (*store.DNSSnapshot, error) {
	var snap store.DNSSnapshot
	err := t.readTogether(ctx, func(t *txn) error {
		var err error
		if snap.Version, err = t.DNSVersion(ctx); err != nil {
			return err
		}
		if snap.Devices, err = list(ctx, t, qSelectActiveDeviceDNS, scanDeviceDNS); err != nil {
			return err
		}
		snap.TXT, err = list(ctx, t, qSelectTXT, scanTXT, now.UnixMicro())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dns snapshot: %w", err)
	}
	return &snap, nil
}

// readTogether runs fn's reads in one REPEATABLE READ, read-only
// transaction (or in the current transaction), so they see one state of
// the database.
func (t *txn) readTogether(ctx context.Context, fn func(t *txn) error) error {
	if t.tx != nil {
		return fn(t)
	}
	tx, err := t.s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(&txn{s: t.s, tx: tx})
}

func scanDeviceDNS(r scanner) (store.DeviceDNS, error) {
	var (
		d                      store.DeviceDNS
		status, addrs, publish string
	)
	if err := r.Scan(&d.DeviceID, &d.Label, &status, &addrs, &publish, &d.ShortName); err != nil {
		return d, err
	}
	d.Publish = store.Publish(publish)
	d.Active = store.Status(status) == store.StatusActive
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
		expires *int64
	)
	err := r.Scan(&x.Name, &x.Value, &expires)
	x.Expires = timeOf(expires)
	return x, err
}
