//! The identity half of the `Store`: users, second factor, sessions, throttling, teams, tokens and
//! the access record. Rows only; the rules live in `crate::identity`.

use async_trait::async_trait;

use super::StoreResult;

/// A staff account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub status: String,
    pub language: String,
    pub password_hash: Option<String>,
    pub totp_secret_ct: Option<Vec<u8>>,
    pub totp_pending_ct: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub session_epoch: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A server-side session (its id is stored only hashed; `id` is a public handle).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub stage: String,
    pub epoch: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub authenticated_at: i64,
    pub ip: String,
    pub user_agent: String,
}

/// An API token's metadata (never its secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// One line of the access record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
}

/// Which conversations a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationScope {
    All,
    /// Assigned to this user, or to a team the user is in.
    AssignedTo(String),
}

/// A change of a user's standing; each one ends the user's sessions (the epoch moves).
#[derive(Debug, Clone)]
pub enum UserChange {
    Role(String),
    Status(String),
    Password(String),
    /// Forget the second factor and its recovery codes.
    ResetSecondFactor,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn count_users(&self) -> StoreResult<i64>;
    /// Inserts a user; `false` if the e-mail is taken.
    async fn insert_user(&self, user: &UserRow) -> StoreResult<bool>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    async fn list_users(&self) -> StoreResult<Vec<UserRow>>;
    /// Applies a change and moves the session epoch (ending every session of the user).
    async fn change_user(&self, id: &str, change: &UserChange, now: i64) -> StoreResult<bool>;

    async fn set_totp_pending(&self, user_id: &str, sealed: &[u8], now: i64) -> StoreResult<()>;
    /// Makes the pending secret the user's second factor, accepting `step` as used, and replaces
    /// the recovery codes; one transaction.
    async fn confirm_totp(
        &self,
        user_id: &str,
        sealed: &[u8],
        step: i64,
        recovery_hashes: &[Vec<u8>],
        now: i64,
    ) -> StoreResult<()>;
    /// Records `step` as used if it is newer than the last accepted one. `false`: replay.
    async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Marks an unused recovery code used. `false`: no such unused code.
    async fn use_recovery_code(&self, user_id: &str, hash: &[u8], now: i64) -> StoreResult<bool>;
    async fn recovery_codes_left(&self, user_id: &str) -> StoreResult<i64>;
    /// Replaces all of a user's recovery codes; one transaction.
    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[Vec<u8>]) -> StoreResult<()>;

    /// Failure counters for `keys` (missing keys have none): key, failures, last failure.
    async fn throttle_counters(&self, keys: &[String]) -> StoreResult<Vec<(String, i64, i64)>>;
    /// Counts an attempt on `key` only if its counter still is `seen` (`None`: no row), i.e. a
    /// compare-and-set: of concurrent attempts that read the same counter, one wins. `false`:
    /// another attempt came first; read again.
    async fn throttle_reserve(
        &self,
        key: &str,
        seen: Option<(i64, i64)>,
        now: i64,
    ) -> StoreResult<bool>;
    /// Gives back one counted attempt (a success on a key whose successes do not clear it).
    async fn throttle_refund(&self, key: &str) -> StoreResult<()>;
    /// Counts a refused (throttled) attempt on `key`; returns the refusals since it last allowed one.
    async fn throttle_refused(&self, key: &str) -> StoreResult<i64>;
    async fn throttle_clear(&self, keys: &[String]) -> StoreResult<()>;
    /// Deletes counters of keys starting with `prefix` whose last failure is before `before`,
    /// except `keep`; returns how many.
    async fn throttle_sweep(&self, prefix: &str, before: i64, keep: &[String]) -> StoreResult<u64>;
    /// Deletes sessions idle since before `idle_before` or created before `created_before`.
    async fn delete_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> StoreResult<u64>;

    async fn insert_session(&self, session: &SessionRow, id_hash: &[u8]) -> StoreResult<()>;
    /// Replaces a session by a new one (new id) in one transaction.
    async fn rotate_session(
        &self,
        old_id: &str,
        session: &SessionRow,
        id_hash: &[u8],
    ) -> StoreResult<()>;
    async fn session_by_hash(&self, id_hash: &[u8]) -> StoreResult<Option<SessionRow>>;
    async fn touch_session(&self, id: &str, now: i64) -> StoreResult<()>;
    async fn delete_session(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Ends a user's sessions except `keep`; returns how many ended.
    async fn delete_sessions_of(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64>;
    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<SessionRow>>;

    async fn insert_setup_token(
        &self,
        hash: &[u8],
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The user of an unused, unexpired setup link (without using it).
    async fn setup_token_user(&self, hash: &[u8], now: i64) -> StoreResult<Option<String>>;
    /// Sets the first password through a setup link and uses the link up; one transaction.
    async fn complete_setup(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: i64,
    ) -> StoreResult<Option<String>>;

    async fn insert_team(&self, team: &TeamRow) -> StoreResult<bool>;
    async fn list_teams(&self) -> StoreResult<Vec<TeamRow>>;
    async fn add_team_member(&self, team_id: &str, user_id: &str) -> StoreResult<()>;
    /// Assigns a conversation (to a user, a team, both or neither).
    async fn assign_conversation(
        &self,
        id: &str,
        assignee: Option<&str>,
        team: Option<&str>,
    ) -> StoreResult<bool>;
    /// The conversation a message belongs to.
    async fn conversation_of_message(&self, message_id: &str) -> StoreResult<Option<String>>;

    async fn insert_api_token(&self, token: &ApiTokenRow, hash: &[u8]) -> StoreResult<()>;
    async fn api_token_by_hash(&self, hash: &[u8]) -> StoreResult<Option<ApiTokenRow>>;
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>>;
    async fn touch_api_token(&self, id: &str, now: i64) -> StoreResult<()>;
    async fn revoke_api_token(&self, id: &str, now: i64) -> StoreResult<bool>;

    /// The newest audit entries (the access log before issue 5, kept for the API's shape).
    async fn access_log(&self, limit: i64) -> StoreResult<Vec<AccessRow>>;
}
