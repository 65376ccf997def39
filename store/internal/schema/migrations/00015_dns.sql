-- What the DNS server serves besides the stateless address-names: the
-- addresses each device last reported and its choice about publishing
-- L.Z, TXT records (ACME dns-01), and the change counter every DNS index
-- polls. Triggers bump the counter in the same transaction as the change,
-- so a reader that sees a counter value also sees every change it counts,
-- whichever process or instance made it. SQLite's triggers each carry
-- their body; PostgreSQL's share one function.

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

-- +sqlite
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
-- +postgres
-- +goose StatementBegin
CREATE FUNCTION dns_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    RETURN NULL; -- an AFTER trigger's result is ignored
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER dns_device_insert AFTER INSERT ON devices
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_status AFTER UPDATE OF status ON devices
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_delete AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_dns_change AFTER INSERT OR UPDATE ON device_dns
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_txt_change AFTER INSERT OR UPDATE OR DELETE ON dns_txt
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
-- +end

-- +goose Down
-- +sqlite
DROP TRIGGER dns_txt_delete;
DROP TRIGGER dns_txt_update;
DROP TRIGGER dns_txt_insert;
DROP TRIGGER dns_device_dns_update;
DROP TRIGGER dns_device_dns_insert;
DROP TRIGGER dns_device_delete;
DROP TRIGGER dns_device_status;
DROP TRIGGER dns_device_insert;
-- +end
DROP TABLE dns_version;
DROP TABLE dns_txt;
DROP TABLE device_dns;
-- +postgres
DROP TRIGGER dns_device_delete ON devices;
DROP TRIGGER dns_device_status ON devices;
DROP TRIGGER dns_device_insert ON devices;
DROP FUNCTION dns_bump();
-- +end
