package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The names area (migration 00150): the owners' short names for their
// devices and the devices' name checks.
const (
	qUpsertShortName = `INSERT INTO device_names (device_id, short_name, mdns) VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET short_name = excluded.short_name, mdns = excluded.mdns`
	qDeleteShortName = `DELETE FROM device_names WHERE device_id = $1`
	qSelectShortName = `SELECT short_name, mdns FROM device_names WHERE device_id = $1`
	qSelectDeviceID  = `SELECT id FROM devices WHERE id = $1`
	qUpsertNameCheck = `INSERT INTO device_status (device_id, last_error, at, updated_at, name_check, name_check_name, name_check_detail, name_check_at)
		VALUES ($1, '', NULL, $2, $3, $4, $5, $6)
		ON CONFLICT (device_id) DO UPDATE SET name_check = excluded.name_check, name_check_name = excluded.name_check_name,
			name_check_detail = excluded.name_check_detail, name_check_at = excluded.name_check_at`
)

// SetDeviceShortName gives a device its short name, or removes it.
func (t *txn) SetDeviceShortName(ctx context.Context, deviceID string, n store.ShortName) error {
	if n.Name == "" {
		if _, err := get(ctx, t, qSelectDeviceID, func(r scanner) (id string, err error) { return id, r.Scan(&id) }, "device", deviceID); err != nil {
			return fmt.Errorf("set short name of device %q: %w", deviceID, err)
		}
		if _, err := t.exec(ctx, qDeleteShortName, deviceID); err != nil {
			return fmt.Errorf("set short name of device %q: %w", deviceID, err)
		}
		return nil
	}
	if _, err := t.exec(ctx, qUpsertShortName, deviceID, n.Name, n.MDNS); err != nil {
		return fmt.Errorf("set short name of device %q: %w", deviceID, err)
	}
	return nil
}

// GetDeviceShortName returns a device's short name, zero if none.
func (t *txn) GetDeviceShortName(ctx context.Context, deviceID string) (store.ShortName, error) {
	n, err := get(ctx, t, qSelectShortName, func(r scanner) (n store.ShortName, err error) { return n, r.Scan(&n.Name, &n.MDNS) }, "short name of device", deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.ShortName{}, nil
	}
	return n, err
}

// SetDeviceNameCheck replaces the device's last name check.
func (t *txn) SetDeviceNameCheck(ctx context.Context, deviceID string, c store.NameCheck) error {
	c.At = truncate(c.At)
	if _, err := t.exec(ctx, qUpsertNameCheck, deviceID, micros(now()), string(c.Result), c.Name, c.Detail, micros(c.At)); err != nil {
		return fmt.Errorf("set name check of device %q: %w", deviceID, err)
	}
	return nil
}
