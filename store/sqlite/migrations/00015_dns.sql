-- What the DNS server serves besides the stateless address-names: the
-- addresses each device last reported and its choice about publishing
-- L.Z, TXT records (ACME dns-01), and the change counter every DNS index
-- polls. Triggers bump the counter in the same transaction as the change,
-- so a reader that sees a counter value also sees every change it counts;
-- store/postgres can keep the same row and triggers.

-- +goose Up
CREATE TABLE device_dns (
    device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    addresses TEXT NOT NULL, -- JSON array of address strings
    publish   TEXT NOT NULL  -- '', 'on' or 'off'
);

CREATE TABLE dns_txt (
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    expires BIGINT NOT NULL,
    PRIMARY KEY (name, value)
);
CREATE INDEX dns_txt_by_expires ON dns_txt (expires);

CREATE TABLE dns_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO dns_version (id, version) VALUES (1, 1);

-- +goose StatementBegin
CREATE TRIGGER dns_device_insert AFTER INSERT ON devices BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_status AFTER UPDATE OF status ON devices
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_delete AFTER DELETE ON devices BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_dns_insert AFTER INSERT ON device_dns BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_dns_update AFTER UPDATE ON device_dns BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_txt_insert AFTER INSERT ON dns_txt BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_txt_update AFTER UPDATE ON dns_txt BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_txt_delete AFTER DELETE ON dns_txt BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER dns_txt_delete;
DROP TRIGGER dns_txt_update;
DROP TRIGGER dns_txt_insert;
DROP TRIGGER dns_device_dns_update;
DROP TRIGGER dns_device_dns_insert;
DROP TRIGGER dns_device_delete;
DROP TRIGGER dns_device_status;
DROP TRIGGER dns_device_insert;
DROP TABLE dns_version;
DROP TABLE dns_txt;
DROP TABLE device_dns;
