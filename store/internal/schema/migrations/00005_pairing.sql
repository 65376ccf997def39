-- Pairing (RFC 8628), device bearer tokens, origin grants and the owners'
-- audit log. Codes and tokens are kept as SHA-256 hashes only, apart from
-- the short user code the owner reads off the device.

-- +goose Up
CREATE TABLE pairings (
    id               TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code        TEXT NOT NULL,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    model            TEXT NOT NULL,
    hostname         TEXT NOT NULL,
    key_jwk          {{blob}},
    key_thumbprint   TEXT NOT NULL,
    label            TEXT NOT NULL,
    source           TEXT NOT NULL,
    status           TEXT NOT NULL,
    interval_ms      BIGINT NOT NULL,
    owner_id         TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    actor            TEXT NOT NULL,
    last_polled      BIGINT,
    created_at       BIGINT NOT NULL,
    expires          BIGINT NOT NULL,
    decided_at       BIGINT,
    redeemed_at      BIGINT
);
CREATE INDEX pairings_by_created ON pairings (created_at, id);
CREATE INDEX pairings_by_owner ON pairings (owner_id, created_at, id);
CREATE INDEX pairings_by_expires ON pairings (expires);

CREATE TABLE device_tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at BIGINT NOT NULL,
    expires    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX device_tokens_by_device ON device_tokens (device_id);

CREATE TABLE device_grants (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id),
    origins    TEXT NOT NULL, -- JSON array
    updated_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    detail     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_by_created ON audit_log (created_at, id);
CREATE INDEX audit_log_by_owner ON audit_log (owner_id, created_at, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE device_grants;
DROP TABLE device_tokens;
DROP TABLE pairings;
