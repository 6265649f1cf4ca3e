-- Throttled refusals since the key last allowed an attempt: the audit log gets one entry per
-- order of magnitude of them, not one per refusal.
ALTER TABLE login_throttle ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
CREATE INDEX login_throttle_last ON login_throttle (last_failure_at);

-- Keyed digest of a raw status event: a replayed status webhook adds no row.
ALTER TABLE status_events ADD COLUMN digest BYTEA;
CREATE UNIQUE INDEX status_events_digest ON status_events (digest);

-- Which slice of the installation key sealed a raw status or event (NULL: the first key,
-- `system`). A slice is a key per calendar month, so no key seals more than a month of them.
ALTER TABLE status_events ADD COLUMN key_name TEXT;
ALTER TABLE events ADD COLUMN key_name TEXT;
