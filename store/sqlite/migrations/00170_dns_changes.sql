-- The DNS change feed: which devices changed at which value of the DNS
-- counter, so that a DNS index applies the devices changed since the
-- counter it has instead of reloading every device. One row per device
-- ever made (deleted devices keep theirs, with the label, so the index can
-- drop them), moved to the new counter value by the same triggers that
-- bump it, in the transaction of the change. TXT records are few (ACME
-- challenges in flight) and are read whole with every change.

-- +goose Up
CREATE TABLE dns_device_changes (
    device_id TEXT PRIMARY KEY,
    label     TEXT NOT NULL,
    version   BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dns_device_changes_by_version ON dns_device_changes (version);
INSERT INTO dns_device_changes (device_id, label, version)
    SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices;

DROP TRIGGER dns_device_insert;
DROP TRIGGER dns_device_status;
DROP TRIGGER dns_device_delete;
DROP TRIGGER dns_device_dns_insert;
DROP TRIGGER dns_device_dns_update;
DROP TRIGGER dns_device_names_insert;
DROP TRIGGER dns_device_names_update;
DROP TRIGGER dns_device_names_delete;

-- +goose StatementBegin
CREATE TRIGGER dns_device_insert AFTER INSERT ON devices BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        VALUES (NEW.id, NEW.label, (SELECT version FROM dns_version WHERE id = 1))
        ON CONFLICT (device_id) DO UPDATE SET label = excluded.label, version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_status AFTER UPDATE OF status ON devices
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        VALUES (NEW.id, NEW.label, (SELECT version FROM dns_version WHERE id = 1))
        ON CONFLICT (device_id) DO UPDATE SET label = excluded.label, version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_delete AFTER DELETE ON devices BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        VALUES (OLD.id, OLD.label, (SELECT version FROM dns_version WHERE id = 1))
        ON CONFLICT (device_id) DO UPDATE SET label = excluded.label, version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_dns_insert AFTER INSERT ON device_dns BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices WHERE id = NEW.device_id
        ON CONFLICT (device_id) DO UPDATE SET version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_dns_update AFTER UPDATE ON device_dns
WHEN OLD.addresses IS NOT NEW.addresses OR OLD.publish IS NOT NEW.publish BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices WHERE id = NEW.device_id
        ON CONFLICT (device_id) DO UPDATE SET version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_names_insert AFTER INSERT ON device_names BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices WHERE id = NEW.device_id
        ON CONFLICT (device_id) DO UPDATE SET version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_names_update AFTER UPDATE ON device_names BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices WHERE id = NEW.device_id
        ON CONFLICT (device_id) DO UPDATE SET version = excluded.version;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_device_names_delete AFTER DELETE ON device_names BEGIN
    UPDATE dns_version SET version = version + 1 WHERE id = 1;
    INSERT INTO dns_device_changes (device_id, label, version)
        SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices WHERE id = OLD.device_id
        ON CONFLICT (device_id) DO UPDATE SET version = excluded.version;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER dns_device_names_delete;
DROP TRIGGER dns_device_names_update;
DROP TRIGGER dns_device_names_insert;
DROP TRIGGER dns_device_dns_update;
DROP TRIGGER dns_device_dns_insert;
DROP TRIGGER dns_device_delete;
DROP TRIGGER dns_device_status;
DROP TRIGGER dns_device_insert;
DROP TABLE dns_device_changes;

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
