-- The DNS change feed: which devices changed at which value of the DNS
-- counter, so that a DNS index applies the devices changed since the
-- counter it has instead of reloading every device. One row per device
-- ever made (deleted devices keep theirs, with the label, so the index can
-- drop them), moved to the new counter value by the same triggers that
-- bump it, in the transaction of the change. TXT records are few (ACME
-- challenges in flight) and are read whole with every change. SQLite's
-- triggers each carry their body; on PostgreSQL one trigger function
-- bumps the counter and records the device, for devices, device_dns and
-- device_names, and dns_bump stays for TXT records.

-- +goose Up
CREATE TABLE dns_device_changes (
    device_id TEXT PRIMARY KEY,
    label     TEXT NOT NULL,
    version   BIGINT NOT NULL
) {{without_rowid}};
CREATE INDEX dns_device_changes_by_version ON dns_device_changes (version);
INSERT INTO dns_device_changes (device_id, label, version)
    SELECT id, label, (SELECT version FROM dns_version WHERE id = 1) FROM devices;

-- +sqlite
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
-- +postgres
-- +goose StatementBegin
CREATE FUNCTION dns_device_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v   BIGINT;
    dev TEXT;
    lbl TEXT;
BEGIN
    IF TG_TABLE_NAME = 'devices' THEN
        IF TG_OP = 'DELETE' THEN dev := OLD.id; lbl := OLD.label;
        ELSE dev := NEW.id; lbl := NEW.label;
        END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN dev := OLD.device_id; ELSE dev := NEW.device_id; END IF;
        SELECT label INTO lbl FROM devices WHERE id = dev;
    END IF;
    UPDATE dns_version SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
    IF lbl IS NOT NULL THEN
        INSERT INTO dns_device_changes (device_id, label, version) VALUES (dev, lbl, v)
            ON CONFLICT (device_id) DO UPDATE SET label = EXCLUDED.label, version = EXCLUDED.version;
    END IF;
    RETURN NULL; -- an AFTER trigger's result is ignored
END;
$$;
-- +goose StatementEnd

DROP TRIGGER dns_device_insert ON devices;
DROP TRIGGER dns_device_status ON devices;
DROP TRIGGER dns_device_delete ON devices;
DROP TRIGGER dns_device_dns_change ON device_dns;
DROP TRIGGER dns_device_names_change ON device_names;

CREATE TRIGGER dns_device_insert AFTER INSERT ON devices
    FOR EACH ROW EXECUTE FUNCTION dns_device_changed();
CREATE TRIGGER dns_device_status AFTER UPDATE OF status ON devices
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION dns_device_changed();
CREATE TRIGGER dns_device_delete AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION dns_device_changed();
CREATE TRIGGER dns_device_dns_insert AFTER INSERT ON device_dns
    FOR EACH ROW EXECUTE FUNCTION dns_device_changed();
CREATE TRIGGER dns_device_dns_update AFTER UPDATE ON device_dns
    FOR EACH ROW WHEN (OLD.addresses IS DISTINCT FROM NEW.addresses OR OLD.publish IS DISTINCT FROM NEW.publish)
    EXECUTE FUNCTION dns_device_changed();
CREATE TRIGGER dns_device_names_change AFTER INSERT OR UPDATE OR DELETE ON device_names
    FOR EACH ROW EXECUTE FUNCTION dns_device_changed();
-- +end

-- +goose Down
-- +sqlite
DROP TRIGGER dns_device_names_delete;
DROP TRIGGER dns_device_names_update;
DROP TRIGGER dns_device_names_insert;
DROP TRIGGER dns_device_dns_update;
DROP TRIGGER dns_device_dns_insert;
DROP TRIGGER dns_device_delete;
DROP TRIGGER dns_device_status;
DROP TRIGGER dns_device_insert;
-- +postgres
DROP TRIGGER dns_device_names_change ON device_names;
DROP TRIGGER dns_device_dns_update ON device_dns;
DROP TRIGGER dns_device_dns_insert ON device_dns;
DROP TRIGGER dns_device_delete ON devices;
DROP TRIGGER dns_device_status ON devices;
DROP TRIGGER dns_device_insert ON devices;
DROP FUNCTION dns_device_changed();
-- +end
DROP TABLE dns_device_changes;

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
CREATE TRIGGER dns_device_insert AFTER INSERT ON devices
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_status AFTER UPDATE OF status ON devices
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_delete AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_dns_change AFTER INSERT OR UPDATE ON device_dns
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
CREATE TRIGGER dns_device_names_change AFTER INSERT OR UPDATE OR DELETE ON device_names
    FOR EACH ROW EXECUTE FUNCTION dns_bump();
-- +end
