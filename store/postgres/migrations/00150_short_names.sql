-- Names people can type and the device's name check, as
-- store/sqlite/migrations/00150_short_names.sql.

-- +goose Up
CREATE TABLE device_names (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    short_name TEXT NOT NULL UNIQUE, -- one DNS label, lowercase
    mdns       BOOLEAN NOT NULL      -- also <short_name>.local
);

CREATE TRIGGER dns_device_names_change AFTER INSERT OR UPDATE OR DELETE ON device_names
    FOR EACH ROW EXECUTE FUNCTION dns_bump();

ALTER TABLE device_status ADD COLUMN name_check TEXT NOT NULL DEFAULT '';   -- '', ok, filtered, failed
ALTER TABLE device_status ADD COLUMN name_check_name TEXT NOT NULL DEFAULT '';
ALTER TABLE device_status ADD COLUMN name_check_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE device_status ADD COLUMN name_check_at BIGINT;

-- +goose Down
ALTER TABLE device_status DROP COLUMN name_check_at;
ALTER TABLE device_status DROP COLUMN name_check_detail;
ALTER TABLE device_status DROP COLUMN name_check_name;
ALTER TABLE device_status DROP COLUMN name_check;
DROP TRIGGER dns_device_names_change ON device_names;
DROP TABLE device_names;
