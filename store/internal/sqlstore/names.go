package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The names area (migration 00150): the owners' short names for their
// devices and the devices' name checks.

var (
	upsertShortName = stmt(`INSERT INTO device_names (device_id, short_name, mdns) VALUES (?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET short_name = excluded.short_name, mdns = excluded.mdns`)
	deleteShortName = stmt(`DELETE FROM device_names WHERE device_id = ?`)
	selectShortName = stmt(`SELECT short_name, mdns FROM device_names WHERE device_id = ?`)
	selectDeviceID  = stmt(`SELECT id FROM devices WHERE id = ?`)
	upsertNameCheck = stmt(`INSERT INTO device_status (device_id, last_error, at, updated_at, name_check, name_check_name, name_check_detail, name_check_at)
		VALUES (?, '', NULL, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET name_check = excluded.name_check, name_check_name = excluded.name_check_name,
			name_check_detail = excluded.name_check_detail, name_check_at = excluded.name_check_at`)
)

// SetDeviceShortName gives a device its short name, or removes it.
func (t Tx) SetDeviceShortName(ctx context.Context, deviceID string, n store.ShortName) error {
	err := t.DB.Atomic(ctx, func(db DB) error {
		if _, err := get(ctx, db, selectDeviceID, scanString, "device", deviceID); err != nil {
			return err
		}
		if n.Name == "" {
			_, err := exec(ctx, db, deleteShortName, deviceID)
			return err
		}
		_, err := exec(ctx, db, upsertShortName, deviceID, n.Name, n.MDNS)
		return err
	})
	if err != nil {
		return fmt.Errorf("set short name of device %q: %w", deviceID, err)
	}
	return nil
}

// GetDeviceShortName returns a device's short name, zero if none.
func (t Tx) GetDeviceShortName(ctx context.Context, deviceID string) (store.ShortName, error) {
	n, err := get(ctx, t.DB, selectShortName, scanShortName, "short name of device", deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.ShortName{}, nil
	}
	return n, err
}

// SetDeviceNameCheck replaces the device's last name check.
func (t Tx) SetDeviceNameCheck(ctx context.Context, deviceID string, c store.NameCheck) error {
	c.At = Truncate(c.At)
	_, err := exec(ctx, t.DB, upsertNameCheck, deviceID, micros(Now()), string(c.Result), c.Name, c.Detail, micros(c.At))
	if err != nil {
		return fmt.Errorf("set name check of device %q: %w", deviceID, err)
	}
	return nil
}

func scanShortName(r Scanner) (store.ShortName, error) {
	var n store.ShortName
	err := r.Scan(&n.Name, &n.MDNS)
	return n, err
}
