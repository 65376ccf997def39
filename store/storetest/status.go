package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// testDeviceStatus checks what a device reports about itself: empty before
// any report, set, replaced (and cleared) inside a transaction, times in
// UTC to the microsecond, and an unknown device refused.
func testDeviceStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "status")
	got, err := s.GetDeviceStatus(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceStatus before a report: %v", err)
	}
	equal(t, "status before a report", got, &store.DeviceStatus{DeviceID: fx.device.ID})

	if err := s.SetDeviceStatus(ctx, &store.DeviceStatus{DeviceID: "no-such-device", LastError: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDeviceStatus of an unknown device: %v, want ErrNotFound", err)
	}

	st := &store.DeviceStatus{DeviceID: fx.device.ID, LastError: `order failed: <b>"rate limited"</b>`, At: base}
	if err := s.SetDeviceStatus(ctx, st); err != nil {
		t.Fatalf("SetDeviceStatus: %v", err)
	}
	if st.UpdatedAt.IsZero() {
		t.Errorf("SetDeviceStatus left UpdatedAt zero")
	}
	got, err = s.GetDeviceStatus(ctx, fx.device.ID)
	if err != nil {
		t.Fatalf("GetDeviceStatus: %v", err)
	}
	checkTimes(t, got)
	equal(t, "status", normalized(got), normalized(st))

	cleared := &store.DeviceStatus{DeviceID: fx.device.ID, At: base.Add(time.Hour), UpdatedAt: base.Add(2 * time.Hour)}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetDeviceStatus(ctx, cleared) }); err != nil {
		t.Fatalf("SetDeviceStatus in Update: %v", err)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		got, err = tx.GetDeviceStatus(ctx, fx.device.ID)
		return err
	})
	if err != nil {
		t.Fatalf("GetDeviceStatus in Update: %v", err)
	}
	equal(t, "cleared status", normalized(got), normalized(cleared))

}
