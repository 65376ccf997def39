-- The owner UI (package web): users who log in and act for an owner,
-- their sessions (stored by the hash of the cookie's secret) and their
-- passkeys (WebAuthn credentials, kept as the web package encodes them).

-- +goose Up
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    owner_id      TEXT NOT NULL REFERENCES owners (id),
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires    BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expires ON sessions (expires);

CREATE TABLE passkeys (
    id           {{blob}} PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    data         {{blob}} NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- +goose Down
DROP TABLE passkeys;
DROP TABLE sessions;
DROP TABLE users;
