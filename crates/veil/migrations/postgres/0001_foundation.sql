-- Foundation schema. Customer content is only ever stored as ciphertext (`*_ct`), sealed with the
-- owning contact's data key; times are Unix milliseconds; ids are UUIDv7 text.
CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL UNIQUE,
    display_phone_number TEXT NOT NULL,
    waba_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE installation_keys (
    name TEXT PRIMARY KEY,
    master_version BIGINT NOT NULL,
    sealed_key BYTEA NOT NULL
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    wa_blind BYTEA UNIQUE,
    user_blind BYTEA UNIQUE,
    master_version BIGINT,
    sealed_key BYTEA,
    -- Random id of the current data key: changes when the key is replaced, NULL once shredded.
    key_id TEXT,
    name_ct BYTEA,
    wa_id_ct BYTEA,
    user_id_ct BYTEA,
    created_at BIGINT NOT NULL
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL UNIQUE REFERENCES contacts(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    status TEXT NOT NULL,
    unread_count BIGINT NOT NULL,
    -- Time of the customer's last message: the 24-hour window is measured from it.
    last_inbound_at BIGINT,
    last_activity_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations (last_activity_at DESC);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    wamid TEXT UNIQUE,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_ct BYTEA NOT NULL,
    raw_ct BYTEA,
    context_wamid TEXT,
    status TEXT NOT NULL,
    status_rank BIGINT NOT NULL,
    error_code BIGINT,
    error_title TEXT,
    sent_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at);

CREATE TABLE status_events (
    id TEXT PRIMARY KEY,
    wamid TEXT NOT NULL,
    status TEXT NOT NULL,
    status_rank BIGINT NOT NULL,
    error_code BIGINT,
    error_title TEXT,
    recipient_blind BYTEA,
    raw_ct BYTEA NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX status_events_by_wamid ON status_events (wamid);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    field TEXT NOT NULL,
    -- Keyed digest of the change: a redelivered event is stored once.
    digest BYTEA NOT NULL UNIQUE,
    raw_ct BYTEA NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE media (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    direction TEXT NOT NULL,
    meta_media_id TEXT,
    mime TEXT,
    sha256 TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    size_bytes BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX media_due ON media (state, next_attempt_at);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE REFERENCES messages(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL,
    request_ct BYTEA NOT NULL,
    last_error_code BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
