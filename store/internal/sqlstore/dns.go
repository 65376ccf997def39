package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/lantls/lantls/store"
)

// The DNS area (migration 00015): device addresses and publish choices,
// TXT records and the change counter that the DNS index of every issuer
// on the store polls. Triggers bump the counter in the same transaction
// as every change the DNS serves.

var (
	// A report of the addresses (or a choice) already stored writes
	// nothing: the WHERE of the upsert skips the update, so no trigger
	// bumps the DNS counter and no index reloads.
	upsertDeviceAddresses = stmt(`INSERT INTO device_dns (device_id, addresses, publish) VALUES (?, ?, '')
		ON CONFLICT (device_id) DO UPDATE SET addresses = excluded.addresses
		WHERE device_dns.addresses IS DISTINCT FROM excluded.addresses`)
	upsertDevicePort = stmt(`INSERT INTO device_dns (device_id, addresses, publish, port) VALUES (?, '[]', '', ?)
		ON CONFLICT (device_id) DO UPDATE SET port = excluded.port
		WHERE device_dns.port IS DISTINCT FROM excluded.port`)
	upsertDevicePublish = stmt(`INSERT INTO device_dns (device_id, addresses, publish) VALUES (?, '[]', ?)
		ON CONFLICT (device_id) DO UPDATE SET publish = excluded.publish
		WHERE device_dns.publish IS DISTINCT FROM excluded.publish`)
	selectDeviceDNS = stmt(`SELECT d.id, d.label, d.status, COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, ''), COALESCE(x.port, 0)
		FROM devices d LEFT JOIN device_dns x ON x.device_id = d.id LEFT JOIN device_names n ON n.device_id = d.id WHERE d.id = ?`)
	selectActiveDeviceDNS = stmt(`SELECT d.id, d.label, d.status, COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, ''), COALESCE(x.port, 0)
		FROM devices d LEFT JOIN device_dns x ON x.device_id = d.id LEFT JOIN device_names n ON n.device_id = d.id
		WHERE d.status = 'active' ORDER BY d.created_at, d.id`)
	// The change feed (migration 00170): devices changed after a counter
	// value, by their last change, with what the DNS serves of them; a
	// deleted device has only its label left.
	selectChangedDeviceDNS = stmt(`SELECT c.device_id, c.label, COALESCE(d.status, 'deleted'), COALESCE(x.addresses, '[]'), COALESCE(x.publish, ''), COALESCE(n.short_name, ''), COALESCE(x.port, 0)
		FROM dns_device_changes c LEFT JOIN devices d ON d.id = c.device_id
		LEFT JOIN device_dns x ON x.device_id = c.device_id LEFT JOIN device_names n ON n.device_id = c.device_id
		WHERE c.version > ? ORDER BY c.version`)
	deleteExpiredTXT = stmt(`DELETE FROM dns_txt WHERE expires < ?`)
	upsertTXT        = stmt(`INSERT INTO dns_txt (name, value, expires) VALUES (?, ?, ?)
		ON CONFLICT (name, value) DO UPDATE SET expires = excluded.expires`)
	deleteTXT        = stmt(`DELETE FROM dns_txt WHERE name = ? AND value = ?`)
	selectTXT        = stmt(`SELECT name, value, expires FROM dns_txt WHERE expires >= ? ORDER BY name, value`)
	selectDNSVersion = stmt(`SELECT version FROM dns_version WHERE id = 1`)
)

// SetDeviceAddresses replaces the addresses a device last reported.
func (t Tx) SetDeviceAddresses(ctx context.Context, deviceID string, addrs []netip.Addr) error {
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	text, err := marshal(list)
	if err == nil {
		_, err = exec(ctx, t.DB, upsertDeviceAddresses, deviceID, text)
	}
	if err != nil {
		return fmt.Errorf("set addresses of device %q: %w", deviceID, err)
	}
	return nil
}

// SetDevicePort sets the port a device serves HTTPS on (0: 443).
func (t Tx) SetDevicePort(ctx context.Context, deviceID string, port int) error {
	if _, err := exec(ctx, t.DB, upsertDevicePort, deviceID, port); err != nil {
		return fmt.Errorf("set port of device %q: %w", deviceID, err)
	}
	return nil
}

// SetDevicePublish sets a device's choice about publishing L.Z.
func (t Tx) SetDevicePublish(ctx context.Context, deviceID string, p store.Publish) error {
	if _, err := exec(ctx, t.DB, upsertDevicePublish, deviceID, string(p)); err != nil {
		return fmt.Errorf("set publishing of device %q: %w", deviceID, err)
	}
	return nil
}

// GetDeviceDNS returns a device's addresses and publish choice.
func (t Tx) GetDeviceDNS(ctx context.Context, deviceID string) (*store.DeviceDNS, error) {
	d, err := get(ctx, t.DB, selectDeviceDNS, scanDeviceDNS, "dns of device", deviceID)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// PutTXT adds the TXT record (name, value) or moves its expiry, and
// forgets the records that expired.
func (t Tx) PutTXT(ctx context.Context, name, value string, expires time.Time) error {
	err := t.DB.Atomic(ctx, func(db DB) error {
		if _, err := exec(ctx, db, deleteExpiredTXT, Now().UnixMicro()); err != nil {
			return err
		}
		_, err := exec(ctx, db, upsertTXT, name, value, expires.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("put txt %q: %w", name, err)
	}
	return nil
}

// DeleteTXT removes the TXT record (name, value), if there.
func (t Tx) DeleteTXT(ctx context.Context, name, value string) error {
	if _, err := exec(ctx, t.DB, deleteTXT, name, value); err != nil {
		return fmt.Errorf("delete txt %q: %w", name, err)
	}
	return nil
}

// DNSVersion returns the DNS change counter.
func (t Tx) DNSVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := t.DB.QueryRow(ctx, selectDNSVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("dns version: %w", err)
	}
	return v, nil
}

// DNSSnapshot returns every active device's DNS data and the TXT records
// unexpired at now, with the change counter read first, all from one
// state of the database.
func (t Tx) DNSSnapshot(ctx context.Context, now time.Time) (*store.DNSSnapshot, error) {
	var snap store.DNSSnapshot
	err := t.DB.Snapshot(ctx, func(db DB) error {
		var err error
		if snap.Version, err = (Tx{db}).DNSVersion(ctx); err != nil {
			return err
		}
		if snap.Devices, err = list(ctx, db, selectActiveDeviceDNS, scanDeviceDNS); err != nil {
			return err
		}
		snap.TXT, err = list(ctx, db, selectTXT, scanTXT, now.UnixMicro())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dns snapshot: %w", err)
	}
	return &snap, nil
}

// DNSChanges returns the devices changed after the counter value since,
// every TXT record unexpired at now and the counter read first, all from
// one state of the database.
func (t Tx) DNSChanges(ctx context.Context, since int64, now time.Time) (*store.DNSDelta, error) {
	var delta store.DNSDelta
	err := t.DB.Snapshot(ctx, func(db DB) error {
		var err error
		if delta.Version, err = (Tx{db}).DNSVersion(ctx); err != nil {
			return err
		}
		if delta.Devices, err = list(ctx, db, selectChangedDeviceDNS, scanDeviceDNS, since); err != nil {
			return err
		}
		delta.TXT, err = list(ctx, db, selectTXT, scanTXT, now.UnixMicro())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dns changes since %d: %w", since, err)
	}
	return &delta, nil
}

func scanDeviceDNS(r Scanner) (store.DeviceDNS, error) {
	var (
		d                      store.DeviceDNS
		status, addrs, publish string
	)
	if err := r.Scan(&d.DeviceID, &d.Label, &status, &addrs, &publish, &d.ShortName, &d.Port); err != nil {
		return d, err
	}
	d.Publish = store.Publish(publish)
	d.Active = store.Status(status) == store.StatusActive
	var err error
	d.Addresses, err = parseAddresses(d.DeviceID, addrs)
	return d, err
}

// parseAddresses reads a device's addresses column: nil for none.
func parseAddresses(deviceID, addrs string) ([]netip.Addr, error) {
	if addrs == "[]" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(addrs), &list); err != nil {
		return nil, fmt.Errorf("device %q addresses: %w", deviceID, err)
	}
	var out []netip.Addr
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("device %q addresses: %w", deviceID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func scanTXT(r Scanner) (store.TXTRecord, error) {
	var x store.TXTRecord
	err := r.Scan(&x.Name, &x.Value, asTime(&x.Expires))
	return x, err
}
