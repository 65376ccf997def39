-- When each order became processing, as PostgreSQL has kept it since its
-- migration 00100, so that both stores share one statement for orders
-- (store/internal/sqlstore). SQLite only, under its own number: a
-- PostgreSQL database has the column from 00100. A SQLite issuer is alone
-- on its file and fails every processing order at start-up; the column
-- costs one NULL.

-- +sqlite
-- +goose Up
ALTER TABLE orders ADD COLUMN processing_since INTEGER;

-- +goose Down
ALTER TABLE orders DROP COLUMN processing_since;
-- +end
