-- Rate-limit state (package ratelimit): one theoretical arrival time per
-- key, forgotten by Sweep once it is in the past.

-- +goose Up
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
) {{without_rowid}};
CREATE INDEX rate_limits_by_tat ON rate_limits (tat);

-- +goose Down
DROP TABLE rate_limits;
