-- Identity and access (issue 3): users, second factor, sessions, throttling, teams, assignment,
-- scoped API tokens, and the record of deliberate access (revealed numbers, recovery codes used).
-- Staff e-mail addresses are stored in clear (they are the login name); TOTP secrets are sealed
-- with the installation key; passwords are Argon2id PHC strings; session ids, setup links,
-- recovery codes and tokens are stored only as SHA-256.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    language TEXT NOT NULL,
    password_hash TEXT,
    totp_secret_ct BYTEA,
    totp_pending_ct BYTEA,
    -- The last TOTP time step accepted: a code is accepted once (compare-and-set).
    totp_last_step BIGINT,
    -- Bumped by a password change, a role change, disabling or 2FA reset: every session
    -- created under an older epoch ends on its next request.
    session_epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id),
    code_hash BYTEA NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    id_hash BYTEA NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    -- 'password': first factor done; 'full': both factors done.
    stage TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Last time password and code were checked (re-authentication for sensitive actions).
    authenticated_at BIGINT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

CREATE TABLE setup_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

ALTER TABLE conversations ADD COLUMN assignee_id TEXT REFERENCES users(id);
ALTER TABLE conversations ADD COLUMN team_id TEXT REFERENCES teams(id);
CREATE INDEX conversations_by_assignee ON conversations (assignee_id);
CREATE INDEX conversations_by_team ON conversations (team_id);

-- Tokens are scoped to named permissions and may expire. Tokens from before this migration
-- keep what they could do then.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN created_by TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
UPDATE api_tokens SET scopes = 'conversation.read.all conversation.reply';

-- Deliberate access to protected data, recorded as it happens. Issue 5 chains this into the
-- tamper-evident audit log.
CREATE TABLE access_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX access_log_by_time ON access_log (at);
