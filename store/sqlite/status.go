package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The status area (migration 00025): what each device last reported. A
// device reports only when its certificate work fails or recovers, so the
// statements are not prepared with the hot ones in queries.go.
const (
	upsertDeviceStatus = `INSERT INTO device_status (device_id, last_error, at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id) DO UPDATE SET last_error = excluded.last_error, at = excluded.at, updated_at = excluded.updated_at`
	selectDeviceStatus = `SELECT last_error, at, updated_at, name_check, name_check_name, name_check_detail, name_check_at
		FROM device_status WHERE device_id = ?`
)

// SetDeviceStatus replaces what a device last reported.
func (t *txn) SetDeviceStatus(ctx context.Context, s *store.DeviceStatus) error {
	fillTime(&s.UpdatedAt)
	s.At, s.UpdatedAt = truncate(s.At), truncate(s.UpdatedAt)
	err := t.atomic(ctx, func(t *txn) error {
		return t.execUnprepared(ctx, upsertDeviceStatus, s.DeviceID, s.LastError, micros(s.At), micros(s.UpdatedAt))
	})
	if err != nil {
		return fmt.Errorf("set status of device %q: %w", s.DeviceID, err)
	}
	return nil
}

// GetDeviceStatus returns what a device last reported, empty if nothing.
func (t *txn) GetDeviceStatus(ctx context.Context, deviceID string) (*store.DeviceStatus, error) {
	s := &store.DeviceStatus{DeviceID: deviceID}
	ctx, err := brief(ctx)
	if err == nil {
		var row *sql.Row
		if t.tx != nil {
			row = t.tx.QueryRowContext(ctx, selectDeviceStatus, deviceID)
		} else {
			row = t.s.r.QueryRowContext(ctx, selectDeviceStatus, deviceID)
		}
		var at, updated, checked sql.NullInt64
		var result string
		err = row.Scan(&s.LastError, &at, &updated, &result, &s.NameCheck.Name, &s.NameCheck.Detail, &checked)
		s.At, s.UpdatedAt, s.NameCheck.At = timeOf(at), timeOf(updated), timeOf(checked)
		s.NameCheck.Result = store.NameCheckResult(result)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &store.DeviceStatus{DeviceID: deviceID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get status of device %q: %w", deviceID, err)
	}
	return s, nil
}
