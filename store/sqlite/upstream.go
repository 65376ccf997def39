package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lantls/lantls/store"
)

// The upstream area (migration 00020). These statements run a few times
// per upstream order, so they are not prepared with the hot ones in
// queries.go.
const (
	upsertUpstreamOrder = `INSERT INTO upstream_orders (order_id, data, created_at) VALUES (?, ?, ?)
		ON CONFLICT (order_id) DO UPDATE SET data = excluded.data`
	selectUpstreamOrder  = `SELECT data FROM upstream_orders WHERE order_id = ?`
	deleteUpstreamOrder  = `DELETE FROM upstream_orders WHERE order_id = ?`
	selectUpstreamOrders = `SELECT data FROM upstream_orders ORDER BY created_at, order_id`
)

// PutUpstreamOrder stores u, replacing the one of the same order.
func (t *txn) PutUpstreamOrder(ctx context.Context, u *store.UpstreamOrder) error {
	fillTime(&u.CreatedAt)
	u.CreatedAt, u.NotBefore = truncate(u.CreatedAt), truncate(u.NotBefore)
	b, err := json.Marshal(u)
	if err == nil {
		err = t.atomic(ctx, func(t *txn) error {
			return t.execUnprepared(ctx, upsertUpstreamOrder, u.OrderID, string(b), u.CreatedAt.UnixMicro())
		})
	}
	if err != nil {
		return fmt.Errorf("put upstream order %q: %w", u.OrderID, err)
	}
	return nil
}

// GetUpstreamOrder returns the upstream work of an order.
func (t *txn) GetUpstreamOrder(ctx context.Context, orderID string) (*store.UpstreamOrder, error) {
	us, err := t.listUpstreamOrders(ctx, selectUpstreamOrder, orderID)
	if err == nil && len(us) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get upstream order %q: %w", orderID, err)
	}
	return us[0], nil
}

// DeleteUpstreamOrder removes the upstream work of an order, if there.
func (t *txn) DeleteUpstreamOrder(ctx context.Context, orderID string) error {
	err := t.atomic(ctx, func(t *txn) error {
		return t.execUnprepared(ctx, deleteUpstreamOrder, orderID)
	})
	if err != nil {
		return fmt.Errorf("delete upstream order %q: %w", orderID, err)
	}
	return nil
}

// ListUpstreamOrders returns all upstream work, oldest first.
func (t *txn) ListUpstreamOrders(ctx context.Context) ([]*store.UpstreamOrder, error) {
	us, err := t.listUpstreamOrders(ctx, selectUpstreamOrders)
	if err != nil {
		return nil, fmt.Errorf("list upstream orders: %w", err)
	}
	return us, nil
}

func (t *txn) listUpstreamOrders(ctx context.Context, text string, args ...any) ([]*store.UpstreamOrder, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if t.tx != nil {
		rows, err = t.tx.QueryContext(ctx, text, args...)
	} else {
		rows, err = t.s.r.QueryContext(ctx, text, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*store.UpstreamOrder{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		u := new(store.UpstreamOrder)
		if err := json.Unmarshal([]byte(data), u); err != nil {
			return nil, fmt.Errorf("decode upstream order: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// execUnprepared runs the write text inside the current transaction.
func (t *txn) execUnprepared(ctx context.Context, text string, args ...any) error {
	if t.tx == nil {
		return errors.New("write outside a transaction")
	}
	ctx, err := brief(ctx)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, text, args...)
	return classify(err)
}
