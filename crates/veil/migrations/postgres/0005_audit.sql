-- The tamper-evident audit log (issue 5). Entries are the leaves of an RFC 6962 Merkle tree:
-- `seq` is the leaf index (from 0, no gaps), `leaf_hash` is SHA-256(0x00 || canonical entry).
-- Entries carry ids, never message text, names or phone numbers.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    ip TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
CREATE INDEX audit_log_by_action ON audit_log (action, at);
CREATE INDEX audit_log_by_target ON audit_log (target, seq);

-- Perfect subtrees of level 1 and up (hash of leaves idx·2^level .. (idx+1)·2^level): written
-- once when complete, never changed. Proofs are folded from them.
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

-- The tree's size and right edge (one perfect subtree per set bit of the size). Every append
-- updates this one row first, which serialises appenders on both backends.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    size BIGINT NOT NULL,
    frontier BYTEA NOT NULL
);
INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, '\x'::bytea);

-- Signed tree heads (C2SP signed-note text), produced periodically and on demand.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    note TEXT NOT NULL
);

-- Alerts raised by the rules over the audit log, and their delivery by e-mail and webhook.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    rule TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL,
    seq BIGINT NOT NULL,
    email_state TEXT NOT NULL,
    webhook_state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    acknowledged_by TEXT,
    acknowledged_at BIGINT
);
CREATE INDEX alerts_by_time ON alerts (at);
CREATE INDEX alerts_by_rule_actor ON alerts (rule, actor, at);
