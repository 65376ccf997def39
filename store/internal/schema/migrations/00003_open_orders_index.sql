-- Open orders (pending, ready, processing) by expiry, for the sweeper and
-- the recovery of processing orders, in place of an index on every order's status:
-- that one grew with every order ever made and moved each order within it
-- on each status change, a page written per finalize. This one holds only
-- the orders in flight, a few pages that stay hot. Queries must repeat
-- the index's WHERE term word for word (openOrder in
-- store/internal/sqlstore) for SQLite to use it.

-- +goose Up
DROP INDEX orders_by_status_expires;
CREATE INDEX orders_open_by_expires ON orders (expires)
    WHERE status IN ('pending', 'ready', 'processing');

-- +goose Down
DROP INDEX orders_open_by_expires;
CREATE INDEX orders_by_status_expires ON orders (status, expires);
