package sqlite

import (
	"context"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The names area (migration 00150): the owners' short names for their
// devices and the devices' name checks. Owners set them by hand and
// devices report checks rarely, so the statements are not prepared.
const (
	upsertShortName = `INSERT INTO device_names (device_id, short_name, mdns) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET short_name = excluded.short_name, mdns = excluded.mdns`
	deleteShortName = `DELETE FROM device_names WHERE device_id = ?`
	selectShortName = `SELECT short_name, mdns FROM device_names WHERE device_id = ?`
	selectDeviceID  = `SELECT id FROM devices WHERE id = ?`
	upsertNameCheck = `INSERT INTO device_status (device_id, last_error, at, updated_at, name_check, name_check_name, name_check_detail, name_check_at)
		VALUES (?, '', NULL, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET name_check = excluded.name_check, name_check_name = excluded.name_check_name,
			name_check_detail = excluded.name_check_detail, name_check_at = excluded.name_check_at`
)

// SetDeviceShortName gives a device its short name, or removes it.
func (t *txn) SetDeviceShortName(ctx context.Context, deviceID string, n store.ShortName) error {
	err := t.atomic(ctx, func(t *txn) error {
		rows, err := t.queryText(ctx, selectDeviceID, deviceID)
		if err != nil {
			return err
		}
		ids, err := scanAll(rows, func(r scanner) (id string, err error) { return id, r.Scan(&id) })
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return store.ErrNotFound
		}
		if n.Name == "" {
			_, err = t.execText(ctx, deleteShortName, deviceID)
			return err
		}
		_, err = t.execText(ctx, upsertShortName, deviceID, n.Name, n.MDNS)
		return err
	})
	if err != nil {
		return fmt.Errorf("set short name of device %q: %w", deviceID, classify(err))
	}
	return nil
}

// GetDeviceShortName returns a device's short name, zero if none.
func (t *txn) GetDeviceShortName(ctx context.Context, deviceID string) (store.ShortName, error) {
	rows, err := t.queryText(ctx, selectShortName, deviceID)
	if err != nil {
		return store.ShortName{}, fmt.Errorf("get short name of device %q: %w", deviceID, err)
	}
	ns, err := scanAll(rows, func(r scanner) (n store.ShortName, err error) { return n, r.Scan(&n.Name, &n.MDNS) })
	if err != nil {
		return store.ShortName{}, fmt.Errorf("get short name of device %q: %w", deviceID, err)
	}
	if len(ns) == 0 {
		return store.ShortName{}, nil
	}
	return ns[0], nil
}

// SetDeviceNameCheck replaces the device's last name check.
func (t *txn) SetDeviceNameCheck(ctx context.Context, deviceID string, c store.NameCheck) error {
	c.At = truncate(c.At)
	err := t.atomic(ctx, func(t *txn) error {
		return t.execUnprepared(ctx, upsertNameCheck, deviceID, micros(now()), string(c.Result), c.Name, c.Detail, micros(c.At))
	})
	if err != nil {
		return fmt.Errorf("set name check of device %q: %w", deviceID, err)
	}
	return nil
}
