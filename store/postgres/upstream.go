package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The upstream area (migration 00020): the upstream signer's work, one
// JSON object per processing order.
const (
	qUpsertUpstreamOrder = `INSERT INTO upstream_orders (order_id, data, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (order_id) DO UPDATE SET data = excluded.data`
	qSelectUpstreamOrder  = `SELECT data FROM upstream_orders WHERE order_id = $1`
	qDeleteUpstreamOrder  = `DELETE FROM upstream_orders WHERE order_id = $1`
	qSelectUpstreamOrders = `SELECT data FROM upstream_orders ORDER BY created_at, order_id`
)

// PutUpstreamOrder stores u, replacing the one of the same order.
func (t *txn) PutUpstreamOrder(ctx context.Context, u *store.UpstreamOrder) error {
	fillTime(&u.CreatedAt)
	u.CreatedAt, u.NotBefore = truncate(u.CreatedAt), truncate(u.NotBefore)
	b, err := json.Marshal(u)
	if err == nil {
		_, err = t.exec(ctx, qUpsertUpstreamOrder, u.OrderID, string(b), u.CreatedAt.UnixMicro())
	}
	if err != nil {
		return fmt.Errorf("put upstream order %q: %w", u.OrderID, err)
	}
	return nil
}

// GetUpstreamOrder returns the upstream work of an order.
func (t *txn) GetUpstreamOrder(ctx context.Context, orderID string) (*store.UpstreamOrder, error) {
	return get(ctx, t, qSelectUpstreamOrder, scanUpstreamOrder, "upstream order", orderID)
}

// DeleteUpstreamOrder removes the upstream work of an order, if there.
func (t *txn) DeleteUpstreamOrder(ctx context.Context, orderID string) error {
	if _, err := t.exec(ctx, qDeleteUpstreamOrder, orderID); err != nil {
		return fmt.Errorf("delete upstream order %q: %w", orderID, err)
	}
	return nil
}

// ListUpstreamOrders returns all upstream work, oldest first.
func (t *txn) ListUpstreamOrders(ctx context.Context) ([]*store.UpstreamOrder, error) {
	us, err := list(ctx, t, qSelectUpstreamOrders, scanUpstreamOrder)
	if err != nil {
		return nil, fmt.Errorf("list upstream orders: %w", err)
	}
	return us, nil
}

func scanUpstreamOrder(r scanner) (*store.UpstreamOrder, error) {
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
