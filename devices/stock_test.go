package devices

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

func TestNewEABKeyForAndRemove(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	c, err := Add(ctx, st, "lan.test", "alice", "NAS", now)
	if err != nil {
		t.Fatal(err)
	}
	alice := Actor{OwnerID: c.Owner.ID, Name: "alice"}
	if _, err := NewEABKeyFor(ctx, st, Actor{OwnerID: "someone else", Name: "bob"}, "lan.test", c.Device.ID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("another owner's new key: %v, want ErrNotFound", err)
	}
	c2, err := NewEABKeyFor(ctx, st, alice, "lan.test", c.Device.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if c2.KID == c.KID || len(c2.Names) != 2 {
		t.Errorf("new key %+v", c2)
	}
	old, _ := st.GetEABKey(ctx, c.KID)
	if !old.Disabled {
		t.Error("the earlier unused key still works")
	}
	if k, _ := st.GetEABKey(ctx, c2.KID); k.Disabled || !k.UsedAt.IsZero() {
		t.Errorf("the new key %+v is not usable", k)
	}

	if err := Remove(ctx, st, alice, c.Device.ID); !errors.Is(err, ErrActive) {
		t.Errorf("removing a paired device: %v, want ErrActive", err)
	}
	if _, err := Unpair(ctx, st, alice, c.Device.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := NewEABKeyFor(ctx, st, alice, "lan.test", c.Device.ID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("new key for an unpaired device: %v, want ErrNotFound", err)
	}
	if err := Remove(ctx, st, alice, c.Device.ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := st.GetDevice(ctx, c.Device.ID); d.Status != store.StatusRemoved {
		t.Errorf("status after remove: %s", d.Status)
	}
	if _, err := Unpair(ctx, st, alice, c.Device.ID, now); err != nil {
		t.Errorf("unpairing a removed device again: %v", err)
	}
	if d, _ := st.GetDevice(ctx, c.Device.ID); d.Status != store.StatusRemoved {
		t.Errorf("a second unpair brought the device back: %s", d.Status)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 certificates", 1: "1 certificate", 2: "2 certificates"} {
		if got := count(n, "certificate"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
