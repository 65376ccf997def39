-- The issuer's state, in both dialects: text IDs, times as BIGINT unix
-- microseconds (NULL when unset), lists and problem documents as JSON
-- text, keys and PEM as bytes (SQLite's BLOB, PostgreSQL's BYTEA).

-- +goose Up
CREATE TABLE owners (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE devices (
    id             TEXT PRIMARY KEY,
    label          TEXT NOT NULL UNIQUE,
    owner_id       TEXT NOT NULL REFERENCES owners (id),
    name           TEXT NOT NULL,
    model          TEXT NOT NULL,
    key_thumbprint TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX devices_by_created ON devices (created_at, id);
CREATE INDEX devices_by_owner ON devices (owner_id, created_at, id);

CREATE TABLE eab_keys (
    kid         TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    hmac_key    {{blob}},
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    account_id  TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL,
    disabled_at BIGINT
);
CREATE INDEX eab_keys_by_device ON eab_keys (device_id);

CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    device_id      TEXT NOT NULL REFERENCES devices (id),
    key_thumbprint TEXT NOT NULL UNIQUE,
    key_jwk        {{blob}},
    contact        TEXT NOT NULL, -- JSON array
    status         TEXT NOT NULL,
    eab_kid        TEXT NOT NULL,
    created_at     BIGINT NOT NULL
) {{without_rowid}};
CREATE INDEX accounts_by_device ON accounts (device_id, created_at, id);

CREATE TABLE orders (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    device_id          TEXT NOT NULL REFERENCES devices (id),
    status             TEXT NOT NULL,
    identifiers        TEXT NOT NULL, -- JSON array
    authorization_ids  TEXT NOT NULL, -- JSON array
    profile            TEXT NOT NULL,
    replaces           TEXT NOT NULL,
    expires            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    certificate_serial TEXT NOT NULL,
    error              TEXT -- JSON problem document
) {{without_rowid}};
CREATE INDEX orders_by_account ON orders (account_id, created_at, id);
CREATE INDEX orders_by_status_expires ON orders (status, expires);

CREATE TABLE authorizations (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    order_id         TEXT NOT NULL REFERENCES orders (id),
    identifier_type  TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    wildcard         BOOLEAN NOT NULL,
    status           TEXT NOT NULL,
    expires          BIGINT NOT NULL,
    challenges       TEXT NOT NULL -- JSON array
) {{without_rowid}};
CREATE INDEX authorizations_by_order ON authorizations (order_id);

CREATE TABLE certificates (
    serial      TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    order_id    TEXT NOT NULL REFERENCES orders (id),
    names       TEXT NOT NULL, -- JSON array
    profile     TEXT NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    chain_pem   {{blob}},
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    reason      INTEGER NOT NULL,
    replaced_by TEXT NOT NULL
);
CREATE INDEX certificates_by_device ON certificates (device_id, created_at, serial);
CREATE INDEX certificates_revoked ON certificates (not_after) WHERE revoked_at IS NOT NULL;

-- Used nonces only: fresh ones are stateless until a request spends them.
CREATE TABLE nonces (
    nonce   TEXT PRIMARY KEY,
    expires BIGINT NOT NULL
) {{without_rowid}};
CREATE INDEX nonces_by_expires ON nonces (expires);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      {{blob}},
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE nonces;
DROP TABLE certificates;
DROP TABLE authorizations;
DROP TABLE orders;
DROP TABLE accounts;
DROP TABLE eab_keys;
DROP TABLE devices;
DROP TABLE owners;
