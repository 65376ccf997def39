-- The TCP port a device serves HTTPS on, as its agent reports it with its
-- addresses, so that the owner's links to its address-names carry it;
-- 0 when not reported, which means 443.

-- +goose Up
ALTER TABLE device_dns ADD COLUMN port INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE device_dns DROP COLUMN port;
