-- What each paired device last reported about itself (PUT
-- /api/v1/device/status): the last failure of its certificate work, empty
-- after a success. The owner UI shows it as the device's last error.

-- +goose Up
CREATE TABLE device_status (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    last_error TEXT NOT NULL, -- plain text; '' after a success
    at         BIGINT,        -- when the device says it happened
    updated_at BIGINT NOT NULL
) {{without_rowid}};

-- +goose Down
DROP TABLE device_status;
