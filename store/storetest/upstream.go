package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/lantls/lantls/store"
)

// testUpstreamOrders checks the upstream signer's work: put, replace, get,
// list oldest first, delete, and that it needs an existing order.
func testUpstreamOrders(t *testing.T, s store.Store) {
	ctx := t.Context()
	fx := newFixture(t, s, "up")
	o1 := mustOrder(t, s, fx.account, "up-order-1", store.StatusProcessing, base.Add(24*time.Hour))
	o2 := mustOrder(t, s, fx.account, "up-order-2", store.StatusProcessing, base.Add(24*time.Hour))

	if _, err := s.GetUpstreamOrder(ctx, o1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUpstreamOrder before put: %v, want ErrNotFound", err)
	}
	if err := s.PutUpstreamOrder(ctx, &store.UpstreamOrder{OrderID: "no-such-order"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutUpstreamOrder of an unknown order: %v, want ErrNotFound", err)
	}
	u1 := &store.UpstreamOrder{
		OrderID: o1.ID, CSR: []byte{0x30, 0x01, 0x02}, Names: []string{"a.lan.example", "*.a.lan.example"},
		Profile: "shortlived", CreatedAt: base,
	}
	u2 := &store.UpstreamOrder{OrderID: o2.ID, CSR: []byte{0x30}, Names: []string{"b.lan.example"}, CreatedAt: base.Add(time.Second)}
	for _, u := range []*store.UpstreamOrder{u2, u1} {
		if err := s.PutUpstreamOrder(ctx, u); err != nil {
			t.Fatalf("PutUpstreamOrder: %v", err)
		}
	}
	u1.URL = "https://upstream.example/order/1"
	u1.TXT = []store.TXT{{Name: "_acme-challenge.a.lan.example", Value: "v1"}, {Name: "_acme-challenge.a.lan.example", Value: "v2"}}
	u1.Attempts, u1.NotBefore, u1.LastError, u1.Replaces = 2, base.Add(time.Hour), "upstream unreachable", "aki.serial"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutUpstreamOrder(ctx, u1) }); err != nil {
		t.Fatalf("PutUpstreamOrder in Update: %v", err)
	}
	got, err := s.GetUpstreamOrder(ctx, o1.ID)
	if err != nil {
		t.Fatalf("GetUpstreamOrder: %v", err)
	}
	equal(t, "upstream order", normalized(got), normalized(u1))

	list, err := s.ListUpstreamOrders(ctx)
	if err != nil {
		t.Fatalf("ListUpstreamOrders: %v", err)
	}
	if len(list) != 2 || list[0].OrderID != o1.ID || list[1].OrderID != o2.ID {
		t.Errorf("ListUpstreamOrders: got %d orders, want %s then %s", len(list), o1.ID, o2.ID)
	}

	for range 2 { // deleting twice is no error
		if err := s.DeleteUpstreamOrder(ctx, o1.ID); err != nil {
			t.Fatalf("DeleteUpstreamOrder: %v", err)
		}
	}
	if _, err := s.GetUpstreamOrder(ctx, o1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUpstreamOrder after delete: %v, want ErrNotFound", err)
	}
	if list, err := s.ListUpstreamOrders(ctx); err != nil || len(list) != 1 {
		t.Errorf("ListUpstreamOrders after delete: %d, %v; want 1", len(list), err)
	}
}
