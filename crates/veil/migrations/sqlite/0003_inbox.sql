-- The web inbox (issue 4): canned replies, labels, internal notes, the interface language.
-- Notes may quote the customer, so they are sealed with the contact's data key like messages.
-- Canned replies and label names are the business's own words and are stored in clear.

CREATE TABLE canned_replies (
    id TEXT PRIMARY KEY,
    shortcut TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE labels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE conversation_labels (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    label_id TEXT NOT NULL REFERENCES labels(id),
    PRIMARY KEY (conversation_id, label_id)
);
CREATE INDEX conversation_labels_by_label ON conversation_labels (label_id);

CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    author_id TEXT NOT NULL REFERENCES users(id),
    body_ct BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_by_conversation ON notes (conversation_id, created_at);

-- The inbox's status filter walks the activity order per status.
CREATE INDEX conversations_by_status ON conversations (status, last_activity_at);

-- 'auto': the browser's Accept-Language decides.
UPDATE users SET language = 'auto' WHERE language = 'en';

-- Unread counts per inbox view scan only conversations with something unread.
CREATE INDEX conversations_unread ON conversations (last_activity_at) WHERE unread_count > 0;
