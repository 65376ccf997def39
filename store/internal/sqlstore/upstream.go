package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The upstream area (migration 00020): the upstream signer's work, one
// JSON object per processing order.

var (
	upsertUpstreamOrder = stmt(`INSERT INTO upstream_orders (order_id, data, created_at) VALUES (?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET data = excluded.data`)
	selectUpstreamOrder  = stmt(`SELECT data FROM upstream_orders WHERE order_id = ?`)
	deleteUpstreamOrder  = stmt(`DELETE FROM upstream_orders WHERE order_id = ?`)
	selectUpstreamOrders = stmt(`SELECT data FROM upstream_orders ORDER BY created_at, order_id`)
)

// PutUpstreamOrder stores u, replacing the one of the same order.
func (t Tx) PutUpstreamOrder(ctx context.Context, u *store.UpstreamOrder) error {
	fillTime(&u.CreatedAt)
	u.CreatedAt, u.NotBefore = Truncate(u.CreatedAt), Truncate(u.NotBefore)
	b, err := json.Marshal(u)
	if err == nil {
		_, err = exec(ctx, t.DB, upsertUpstreamOrder, u.OrderID, string(b), u.CreatedAt.UnixMicro())
	}
	if err != nil {
		return fmt.Errorf("put upstream order %q: %w", u.OrderID, err)
	}
	return nil
}

// GetUpstreamOrder returns the upstream work of an order.
func (t Tx) GetUpstreamOrder(ctx context.Context, orderID string) (*store.UpstreamOrder, error) {
	return get(ctx, t.DB, selectUpstreamOrder, scanUpstreamOrder, "upstream order", orderID)
}

// DeleteUpstreamOrder removes the upstream work of an order, if there.
func (t Tx) DeleteUpstreamOrder(ctx context.Context, orderID string) error {
	if _, err := exec(ctx, t.DB, deleteUpstreamOrder, orderID); err != nil {
		return fmt.Errorf("delete upstream order %q: %w", orderID, err)
	}
	return nil
}

// ListUpstreamOrders returns all upstream work, oldest first.
func (t Tx) ListUpstreamOrders(ctx context.Context) ([]*store.UpstreamOrder, error) {
	us, err := list(ctx, t.DB, selectUpstreamOrders, scanUpstreamOrder)
	if err != nil {
		return nil, fmt.Errorf("list upstream orders: %w", err)
	}
	return us, nil
}

func scanUpstreamOrder(r Scanner) (*store.UpstreamOrder, error) {
	var data string
	if err := r.Scan(&data); err != nil {
		return nil, err
	}
	u := new(store.UpstreamOrder)
	if err := json.Unmarshal([]byte(data), u); err != nil {
		return nil, fmt.Errorf("decode upstream order: %w", err)
	}
	return u, nil
}
