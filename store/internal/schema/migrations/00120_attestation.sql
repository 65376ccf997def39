-- Device attestation (draft-ietf-acme-device-attest): the rule per device
-- model an admin sets (off, optional, required), and the last attestation
-- each device passed, shown on its page.

-- +goose Up
CREATE TABLE attest_policies (
    model      TEXT PRIMARY KEY,
    rule       TEXT NOT NULL, -- off, optional or required
    actor      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
) {{without_rowid}};

CREATE TABLE device_attestations (
    device_id        TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    format           TEXT NOT NULL, -- tpm or packed
    root             TEXT NOT NULL, -- the root's subject
    root_fingerprint TEXT NOT NULL, -- hex SHA-256 of the root certificate
    model            TEXT NOT NULL,
    identifier_type  TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    attested_at      BIGINT NOT NULL
) {{without_rowid}};

-- +goose Down
DROP TABLE device_attestations;
DROP TABLE attest_policies;
