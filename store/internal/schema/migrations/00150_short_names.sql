-- Names people can type: a short name per device, unique in the zone,
-- which the local signer adds to the device's next certificate and the DNS
-- answers with the device's addresses (so its changes bump the DNS
-- counter); and the device's last check that its own names resolve
-- through its system resolver, beside the rest of its status.

-- +goose Up
CREATE TABLE device_names (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    short_name TEXT NOT NULL UNIQUE, -- one DNS label, lowercase
-- +sqlite
    mdns       INTEGER NOT NULL      -- 1: also <short_name>.local
-- +postgres
    mdns       BOOLEAN NOT NULL      -- also <short_name>.local
-- +end
) {{without_rowid}};

-- +sqlite
-- +goose StatementBegin
CREATE TRIGGER dns_device_names_insert AFTER INSERT ON device_names BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_names_update AFTER UPDATE ON device_names BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_names_delete AFTER DELETE ON device_names BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +postgres
CREATE TRIGGER dns_device_names_change AFTER INSERT OR UPDATE OR DELETE ON device_names
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
-- +end

ALTER TABLE device_status ADD COLUMN name_check TEXT NOT NULL DEFAULT '';   -- '', ok, filtered, failed
ALTER TABLE device_status ADD COLUMN name_check_name TEXT NOT NULL DEFAULT '';
ALTER TABLE device_status ADD COLUMN name_check_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE device_status ADD COLUMN name_check_at BIGINT;

-- +goose Down
ALTER TABLE device_status DROP COLUMN name_check_at;
ALTER TABLE device_status DROP COLUMN name_check_detail;
ALTER TABLE device_status DROP COLUMN name_check_name;
ALTER TABLE device_status DROP COLUMN name_check;
-- +sqlite
DROP TRIGGER dns_device_names_delete;
DROP TRIGGER dns_device_names_update;
DROP TRIGGER dns_device_names_insert;
-- +postgres
DROP TRIGGER dns_device_names_change ON device_names;
-- +end
DROP TABLE device_names;
