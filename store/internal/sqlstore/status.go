package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The status area (migration 00025): what each device last reported.

var (
	upsertDeviceStatus = stmt(`INSERT INTO device_status (device_id, last_error, at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET last_error = excluded.last_error, at = excluded.at, updated_at = excluded.updated_at`)
	selectDeviceStatus = stmt(`SELECT device_id, last_error, at, updated_at, name_check, name_check_name, name_check_detail, name_check_at
		FROM device_status WHERE device_id = ?`)
)

// SetDeviceStatus replaces what a device last reported.
func (t Tx) SetDeviceStatus(ctx context.Context, s *store.DeviceStatus) error {
	fillTime(&s.UpdatedAt)
	s.At, s.UpdatedAt = Truncate(s.At), Truncate(s.UpdatedAt)
	if _, err := exec(ctx, t.DB, upsertDeviceStatus, s.DeviceID, s.LastError, micros(s.At), micros(s.UpdatedAt)); err != nil {
		return fmt.Errorf("set status of device %q: %w", s.DeviceID, err)
	}
	return nil
}

// GetDeviceStatus returns what a device last reported, empty if nothing.
func (t Tx) GetDeviceStatus(ctx context.Context, deviceID string) (*store.DeviceStatus, error) {
	s, err := get(ctx, t.DB, selectDeviceStatus, scanDeviceStatus, "status of device", deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return &store.DeviceStatus{DeviceID: deviceID}, nil
	}
	return s, err
}

func scanDeviceStatus(r Scanner) (*store.DeviceStatus, error) {
	var s store.DeviceStatus
	if err := r.Scan(&s.DeviceID, &s.LastError, asTime(&s.At), asTime(&s.UpdatedAt), (*string)(&s.NameCheck.Result),
		&s.NameCheck.Name, &s.NameCheck.Detail, asTime(&s.NameCheck.At)); err != nil {
		return nil, err
	}
	return &s, nil
}
