//! Storage: the `Store` trait lists every query Veil runs; `SqlStore` implements it for SQLite and
//! PostgreSQL.
//!
//! Only this module contains SQL or imports `sqlx`. It never sees plaintext customer data: the
//! domain seals content before it gets here, and rows come back sealed. Times are Unix
//! milliseconds chosen by the caller's `Clock`; the database never calls `now()`.

mod admin;
mod audit;
mod audit_index;
mod copy;
mod desk;
mod identity;
mod identity_sql;
mod ingest_postgres;
mod nodes;
mod pool;
mod rows;
mod sql;
mod sqlite_writer;

pub use admin::*;
pub use audit::*;
pub use copy::{CopyReport, copy_database};
pub use desk::*;
pub use identity::*;
pub use nodes::*;
pub use pool::SqlStore;
pub use rows::*;

use async_trait::async_trait;

/// What can go wrong in storage. Messages carry ids and driver text, never customer content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database writer: {0}")]
    Writer(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("not found")]
    NotFound,
    /// A contact's data key changed (shredded or replaced) after the caller read it.
    #[error("contact {0} has a different data key now")]
    StaleContactKey(String),
    /// `veil migrate-data` refused or failed (names tables and columns, never values).
    #[error("{0}")]
    Copy(String),
    #[error("unsupported database url")]
    UnsupportedUrl,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Every query Veil runs. One implementation per backend would duplicate logic, so `SqlStore` runs
/// the same statements on either pool; see ARCHITECTURE.md.
#[async_trait]
pub trait Store:
    IdentityStore + DeskStore + AdminStore + AuditStore + NodeStore + Send + Sync + std::fmt::Debug
{
    /// Applies pending migrations for this backend.
    async fn migrate(&self) -> StoreResult<()>;
    /// Which backend this is (`sqlite` or `postgres`), for logs and benchmarks.
    fn backend(&self) -> &'static str;

    // Channels and installation keys.
    async fn upsert_channel(&self, channel: &ChannelRow) -> StoreResult<ChannelRow>;
    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<ChannelRow>>;
    async fn default_channel(&self) -> StoreResult<Option<ChannelRow>>;
    /// Stores `sealed` under `name` unless a key by that name exists; returns the stored one.
    async fn installation_key(&self, name: &str, fresh: &SealedKeyRow)
    -> StoreResult<SealedKeyRow>;

    // Inbound.
    /// Contacts whose wa or user blind index is among `blinds`.
    async fn find_contacts(&self, blinds: &[Vec<u8>]) -> StoreResult<Vec<ContactKeyRow>>;
    /// Writes a whole group of webhooks in one durable transaction.
    async fn apply_ingest(&self, write: IngestWrite) -> StoreResult<IngestOutcome>;

    // Inbox reads.
    /// Newest activity first, after the cursor `before` (activity time and conversation id: a
    /// page boundary inside a run of equal times neither skips nor repeats a conversation).
    async fn list_conversations(
        &self,
        scope: &ConversationScope,
        limit: i64,
        before: Option<(i64, &str)>,
    ) -> StoreResult<Vec<ConversationRow>>;
    async fn conversation(
        &self,
        id: &str,
        scope: &ConversationScope,
    ) -> StoreResult<Option<ConversationRow>>;
    async fn list_messages(
        &self,
        conversation_id: &str,
        limit: i64,
        before: Option<i64>,
        before_id: Option<&str>,
    ) -> StoreResult<Vec<MessageRow>>;
    async fn mark_conversation_read(&self, id: &str) -> StoreResult<()>;
    async fn media_for_message(&self, message_id: &str) -> StoreResult<Option<MediaRow>>;
    async fn count_messages(&self) -> StoreResult<i64>;
    /// Messages that kept Meta's payload (inbound and echoes), by id after `after`.
    async fn sealed_messages(&self, after: &str, limit: i64) -> StoreResult<Vec<SealedMessageRow>>;
    /// Replaces a message's sealed content and payload (both sealed with the contact's key).
    async fn reseal_message(&self, id: &str, content_ct: &[u8], raw_ct: &[u8]) -> StoreResult<()>;
    /// How many non-message webhook changes are kept for `field`.
    async fn count_events(&self, field: &str) -> StoreResult<i64>;
    /// How many raw status events are kept for `wamid`.
    async fn count_status_events(&self, wamid: &str) -> StoreResult<i64>;
    async fn wamids_present(&self, wamids: &[String]) -> StoreResult<i64>;

    // Outbound.
    /// Records an outbound message and its outbox row (and media row, if any) in one transaction.
    async fn enqueue_outbound(
        &self,
        message: &NewMessage,
        outbox: &NewOutbox,
        media: Option<&NewMedia>,
    ) -> StoreResult<()>;
    /// Sends whose lease ran out while `sending` become `ambiguous` until `reconcile_until`.
    /// Cancels a scheduled send of the conversation that no worker has claimed yet; false when it is too late.
    async fn cancel_scheduled(
        &self,
        conversation_id: &str,
        message_id: &str,
        now: i64,
    ) -> StoreResult<bool>;
    async fn expire_stuck_sends(&self, now: i64, reconcile_until: i64) -> StoreResult<u64>;
    /// Claims due rows (`queued`, or `ambiguous` past their reconcile time) as `sending` until `lease_until`.
    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxClaim>>;
    async fn outbox_retry(
        &self,
        id: &str,
        next_attempt_at: i64,
        attempts: i64,
        error_code: Option<i64>,
        now: i64,
    ) -> StoreResult<()>;
    async fn outbox_ambiguous(
        &self,
        id: &str,
        reconcile_until: i64,
        attempts: i64,
        now: i64,
    ) -> StoreResult<()>;
    async fn outbox_sent(&self, claim: &OutboxClaim, wamid: &str, now: i64) -> StoreResult<()>;
    async fn outbox_failed(
        &self,
        claim: &OutboxClaim,
        code: i64,
        title: &str,
        now: i64,
    ) -> StoreResult<()>;
    async fn outbox_state(&self, message_id: &str) -> StoreResult<Option<String>>;
    async fn set_media_meta_id(&self, media_id: &str, meta_media_id: &str) -> StoreResult<()>;

    // Inbound media.
    async fn claim_media(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<MediaRow>>;
    async fn media_done(
        &self,
        id: &str,
        state: &str,
        size: Option<i64>,
        mime: Option<&str>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    async fn media_retry(
        &self,
        id: &str,
        next_attempt_at: i64,
        attempts: i64,
        error: &str,
    ) -> StoreResult<()>;

    // Keys.
    async fn contact_key(&self, contact_id: &str) -> StoreResult<Option<SealedKeyRow>>;
    /// Sealed keys not under `current` master version, oldest first.
    async fn keys_to_rewrap(&self, current: i64, limit: i64) -> StoreResult<Vec<KeyOwnerRow>>;
    /// Replaces a sealed key if it is still the one read (compare-and-swap on the version).
    async fn rewrap_key(&self, owner: &KeyOwnerRow, fresh: &SealedKeyRow) -> StoreResult<bool>;
    /// How many sealed keys each master version holds.
    async fn key_versions_in_use(&self) -> StoreResult<Vec<(i64, i64)>>;
    /// Gives a contact whose key was shredded a fresh key (new messages after an erasure).
    async fn rekey_contact(
        &self,
        contact_id: &str,
        fresh: &SealedKeyRow,
        key_id: &str,
    ) -> StoreResult<bool>;
    /// Deletes a contact's data key: everything sealed with it becomes unreadable.
    async fn shred_contact_key(&self, contact_id: &str) -> StoreResult<()>;
}

/// Creates an empty PostgreSQL database `name` on the server of `admin_url` and returns its URL.
/// For tests and benchmarks, which each get a database of their own.
pub async fn create_database(admin_url: &str, name: &str) -> StoreResult<String> {
    pool::create_database(admin_url, name).await
}

/// Drops a database made by `create_database`.
pub async fn drop_database(admin_url: &str, name: &str) -> StoreResult<()> {
    pool::drop_database(admin_url, name).await
}

/// Opens the store named by `url` (`sqlite:` or `postgres://`).
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    Ok(std::sync::Arc::new(SqlStore::connect(url).await?))
}
