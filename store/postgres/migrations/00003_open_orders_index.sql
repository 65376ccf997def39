-- Open orders (pending, ready, processing) by expiry, for the sweeper and
-- the recovery of processing orders, in place of an index on every
-- order's status (see store/sqlite/migrations/00003).

-- +goose Up
DROP INDEX orders_by_status_expires;
CREATE INDEX orders_open_by_expires ON orders (expires)
    WHERE status IN ('pending', 'ready', 'processing');

-- +goose Down
DROP INDEX orders_open_by_expires;
CREATE INDEX orders_by_status_expires ON orders (status, expires);
