-- When each order became processing, so that a live instance can fail the
-- orders a crashed one left processing once none can still be signing
-- them (Store.FailStaleProcessingOrders). PostgreSQL only: a SQLite
-- issuer is alone on its file and fails them all at start-up. SQLite got
-- the column later, in 00160, for one shared statement.

-- +postgres
-- +goose Up
ALTER TABLE orders ADD COLUMN processing_since BIGINT;

-- +goose Down
ALTER TABLE orders DROP COLUMN processing_since;
-- +end
