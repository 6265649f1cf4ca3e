-- Foundation schema. Customer content is only ever stored as ciphertext (`*_ct`), sealed with the
-- owning contact's data key; times are Unix milliseconds; ids are UUIDv7 text.
CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL UNIQUE,
    display_phone_number TEXT NOT NULL,
    waba_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE installation_keys (
    name TEXT PRIMARY KEY,
    master_version INTEGER NOT NULL,
    sealed_key BLOB NOT NULL
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES channels(id),
    wa_blind BLOB UNIQUE,
    user_blind BLOB UNIQUE,
    master_version INTEGER,
    sealed_key BLOB,
    -- Random id of the current data key: changes when the key is replaced, NULL once shredded.
    key_id TEXT,
    name_ct BLOB,
    wa_id_ct BLOB,
    user_id_ct BLOB,
    created_at INTEGER NOT NULL
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL UNIQUE REFERENCES contacts(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    status TEXT NOT NULL,
    unread_count INTEGER NOT NULL,
    -- Time of the customer's last message: the 24-hour window is measured from it.
    last_inbound_at INTEGER,
    last_activity_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations (last_activity_at DESC);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    wamid TEXT UNIQUE,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_ct BLOB NOT NULL,
    raw_ct BLOB,
    context_wamid TEXT,
    status TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    error_code INTEGER,
    error_title TEXT,
    sent_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, created_at);

CREATE TABLE status_events (
    id TEXT PRIMARY KEY,
    wamid TEXT NOT NULL,
    status TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    error_code INTEGER,
    error_title TEXT,
    recipient_blind BLOB,
    raw_ct BLOB NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX status_events_by_wamid ON status_events (wamid);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    field TEXT NOT NULL,
    -- Keyed digest of the change: a redelivered event is stored once.
    digest BLOB NOT NULL UNIQUE,
    raw_ct BLOB NOT NULL,
    received_at INTEGER NOT NULL
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
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    size_bytes INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX media_due ON media (state, next_attempt_at);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE REFERENCES messages(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    request_ct BLOB NOT NULL,
    last_error_code INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
