-- The upstream signer's work (ca/upstream): one row per order of ours
-- that is processing at an upstream CA, its state as a JSON object.

-- +goose Up
CREATE TABLE upstream_orders (
    order_id   TEXT PRIMARY KEY REFERENCES orders (id),
    data       TEXT NOT NULL, -- JSON of store.UpstreamOrder
    created_at BIGINT NOT NULL
) {{without_rowid}};

-- +goose Down
DROP TABLE upstream_orders;
