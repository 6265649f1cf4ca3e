//! `SqlStore`: the `Store` trait on SQLite or PostgreSQL.
//!
//! The statements are portable (`$n` placeholders, epoch integers, `ON CONFLICT`, `RETURNING`), so
//! each is written once and `on_pool!` compiles it for both drivers. Dialect lives in three places
//! only: connection setup (pragmas), how a write transaction begins (`BEGIN IMMEDIATE` on SQLite)
//! and the claim queries (`FOR UPDATE SKIP LOCKED` on PostgreSQL).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

use super::sqlite_writer::SqliteWriter;
use super::{
    ChannelRow, ContactKeyRow, ConversationRow, ConversationScope, InboundMessageWrite,
    IngestOutcome, IngestWrite, KeyOwnerRow, MediaRow, MessageRow, NewMedia, NewMessage, NewOutbox,
    OutboxClaim, SealedKeyRow, SealedMessageRow, Store, StoreError, StoreResult,
};

#[derive(Debug, Clone)]
pub(super) enum Pool {
    /// The sqlx pool, and the thread that applies ingest groups (see `sqlite_writer`).
    Sqlite(SqlitePool, Arc<SqliteWriter>),
    Postgres(PgPool),
}

/// The store on either backend.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(super) pool: Pool,
}

/// Runs `$body` with `$conn` bound to whichever pool this store has. The body is compiled once per
/// driver, so the SQL in it must be portable.
macro_rules! on_pool {
    ($self:expr, $conn:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($conn, _) => $body,
            Pool::Postgres($conn) => $body,
        }
    };
}
pub(super) use on_pool;

/// Starting a write transaction: SQLite takes the write lock up front so that two writers never
/// deadlock upgrading a read lock; PostgreSQL's default is right.
pub(super) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Claims due outbox rows. `{lock}` becomes `FOR UPDATE SKIP LOCKED` on PostgreSQL, so that several
/// nodes never claim the same row; SQLite has one writer at a time and needs nothing.
const CLAIM_OUTBOX: &str = "UPDATE outbox SET state = 'sending', lease_until = $1, updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE state IN ('queued', 'scheduled', 'ambiguous') AND next_attempt_at <= $2 \
     ORDER BY next_attempt_at LIMIT $3{lock}) \
     RETURNING id, message_id, contact_id, attempts, request_ct";
/// Claims due inbound media, as `CLAIM_OUTBOX` does.
const CLAIM_MEDIA: &str = "UPDATE media SET state = 'fetching', next_attempt_at = $1 \
     WHERE id IN (SELECT id FROM media WHERE direction = 'in' AND state IN ('pending', 'fetching') AND next_attempt_at <= $2 \
     ORDER BY next_attempt_at LIMIT $3{lock}) \
     RETURNING id, message_id, contact_id, direction, meta_media_id, mime, sha256, state, attempts, size_bytes";

/// The columns of a `ConversationRow`.
pub(super) const CONVERSATION_SELECT: &str = "SELECT v.id, v.contact_id, v.status, v.unread_count, v.last_activity_at, \
     c.name_ct, c.wa_id_ct, c.user_id_ct, c.master_version, c.sealed_key, v.last_inbound_at, v.assignee_id, v.team_id \
     FROM conversations v JOIN contacts c ON c.id = v.contact_id";
/// Restricts conversations to a `ConversationScope` bound as `$all` (1: all) and `$user`.
pub(super) fn scope_filter(all: u8, user: u8) -> String {
    format!(
        "(${all} = 1 OR v.assignee_id = ${user} \
         OR v.team_id IN (SELECT team_id FROM team_members WHERE user_id = ${user}))"
    )
}

pub(super) fn scope_binds(scope: &ConversationScope) -> (i64, String) {
    match scope {
        ConversationScope::All => (1, String::new()),
        ConversationScope::AssignedTo(user) => (0, user.clone()),
    }
}

/// Most messages per multi-row INSERT: 14 parameters each stays far below PostgreSQL's 65,535.
const MESSAGE_CHUNK: usize = 500;
/// Most payload bytes per multi-row INSERT. Large statements are fine now that the connection sets
/// `TCP_NODELAY` (see `vendor/README.md`: without it, a statement larger than one send segment
/// waited 40 ms for the server's delayed ACK, and this was 12 KiB); the cap keeps one statement's
/// memory bounded.
const CHUNK_BYTES: usize = 1024 * 1024;

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const PING_WHEN_IDLE: Duration = Duration::from_secs(10);

/// Splits messages into chunks of at most `MESSAGE_CHUNK` rows and about `CHUNK_BYTES` bytes.
fn message_chunks(messages: &[InboundMessageWrite]) -> Vec<&[InboundMessageWrite]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in messages.iter().enumerate() {
        let size =
            item.message.content_ct.len() + item.message.raw_ct.as_ref().map_or(0, Vec::len) + 256;
        if i > start && (bytes + size > CHUNK_BYTES || i - start >= MESSAGE_CHUNK) {
            chunks.extend(messages.get(start..i));
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    chunks.extend(messages.get(start..).filter(|rest| !rest.is_empty()));
    chunks
}

/// Which placeholder style a generated statement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// Anonymous `?`: sqlx-sqlite resolves every `$n` through `sqlite3_bind_parameter_name`, a
    /// linear scan, which makes statements with thousands of parameters quadratic.
    Sqlite,
    /// Numbered `$n`.
    Postgres,
}

impl SqlStore {
    /// A claim query with this backend's row-locking clause.
    fn claim_sql(&self, template: &str) -> sqlx::AssertSqlSafe<String> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        sqlx::AssertSqlSafe(template.replace("{lock}", lock))
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(..) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// `(?, ?), (?, ?)` or `($1, $2), ($3, $4)` for `rows` rows of `cols` parameters, optionally with
/// a type cast per column (PostgreSQL cannot infer parameter types inside `VALUES`). Only
/// placeholders, never data. Parameters are bound in order.
pub(super) fn placeholders(dialect: Dialect, rows: usize, cols: usize, casts: &[&str]) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..cols {
            let n = row * cols + col + 1;
            if col > 0 {
                out.push_str(", ");
            }
            let param = match dialect {
                Dialect::Sqlite => "?".to_owned(),
                Dialect::Postgres => format!("${n}"),
            };
            match casts.get(col) {
                Some(ty) => {
                    let _ = write!(out, "CAST({param} AS {ty})");
                }
                None => out.push_str(&param),
            }
        }
        out.push(')');
    }
    out
}

/// Inserts a media row inside the caller's transaction.
macro_rules! insert_media {
    ($m:expr, $exec:expr) => {
        sqlx::query(
            "INSERT INTO media (id, message_id, contact_id, direction, meta_media_id, mime, sha256, state, attempts, \
             next_attempt_at, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $9)",
        )
        .bind(&$m.id)
        .bind(&$m.message_id)
        .bind(&$m.contact_id)
        .bind($m.direction)
        .bind(&$m.meta_media_id)
        .bind(&$m.mime)
        .bind(&$m.sha256)
        .bind($m.state)
        .bind($m.created_at)
        .bind($m.size_bytes)
        .execute($exec)
        .await?
    };
}

impl SqlStore {
    /// Connects to `url`. SQLite files are created if missing and run in WAL mode with
    /// `synchronous=FULL`: a commit is on disk before Veil answers.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // 64 MiB page cache: index pages stay hot under ingest.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory");
            let filename = options.get_filename().to_owned();
            // A local file cannot drop a connection: skip the ping sqlx makes on every acquire.
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            let writer = SqliteWriter::open(&filename)?;
            Ok(Self {
                pool: Pool::Sqlite(pool, Arc::new(writer)),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sqlx pings every connection it hands out: one more round trip before every query.
            // A connection in steady use is known alive (a dead one fails its query, which the
            // caller sees as any database error); only one idle for a while is pinged first.
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_WHEN_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await?;
            Ok(Self {
                pool: Pool::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Closes every connection (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

#[async_trait]
#[allow(
    clippy::too_many_lines,
    reason = "each method is one statement list, written once for both backends"
)]
impl Store for SqlStore {
    async fn migrate(&self) -> StoreResult<()> {
        match &self.pool {
            Pool::Sqlite(pool, _) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(..) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    async fn upsert_channel(&self, c: &ChannelRow) -> StoreResult<ChannelRow> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "INSERT INTO channels (id, phone_number_id, display_phone_number, waba_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (phone_number_id) DO UPDATE SET display_phone_number = excluded.display_phone_number, waba_id = excluded.waba_id \
             RETURNING id, phone_number_id, display_phone_number, waba_id, created_at")
            .bind(&c.id).bind(&c.phone_number_id).bind(&c.display_phone_number).bind(&c.waba_id).bind(c.created_at)
            .fetch_one(pool).await?))
    }

    async fn channel_by_phone_number_id(
        &self,
        phone_number_id: &str,
    ) -> StoreResult<Option<ChannelRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, phone_number_id, display_phone_number, waba_id, created_at FROM channels WHERE phone_number_id = $1")
            .bind(phone_number_id).fetch_optional(pool).await?))
    }

    async fn default_channel(&self) -> StoreResult<Option<ChannelRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, phone_number_id, display_phone_number, waba_id, created_at FROM channels ORDER BY created_at, id LIMIT 1")
            .fetch_optional(pool).await?))
    }

    async fn installation_key(
        &self,
        name: &str,
        fresh: &SealedKeyRow,
    ) -> StoreResult<SealedKeyRow> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO installation_keys (name, master_version, sealed_key) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(name).bind(fresh.master_version).bind(&fresh.sealed_key).execute(pool).await?;
            Ok(sqlx::query_as("SELECT master_version, sealed_key FROM installation_keys WHERE name = $1")
                .bind(name).fetch_one(pool).await?)
        })
    }

    async fn find_contacts(&self, blinds: &[Vec<u8>]) -> StoreResult<Vec<ContactKeyRow>> {
        const SELECT: &str = "SELECT c.id, v.id AS conversation_id, c.key_id, c.wa_blind, c.user_blind, c.master_version, c.sealed_key \
             FROM contacts c JOIN conversations v ON v.contact_id = c.id";
        if blinds.is_empty() {
            return Ok(Vec::new());
        }
        if let Pool::Postgres(pool) = &self.pool {
            // One array: the same statement text for any number of blinds (planned once).
            return Ok(sqlx::query_as::<_, ContactKeyRow>(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE c.wa_blind = ANY($1::bytea[]) OR c.user_blind = ANY($1::bytea[])"
            )))
            .bind(blinds)
            .fetch_all(pool)
            .await?);
        }
        // SQLite: the blinds are bound twice, once per IN list (`?` placeholders cannot be
        // reused).
        let both = placeholders(self.dialect(), 2, blinds.len(), &[]);
        let (wa_list, user_list) = both.split_once("), (").unwrap_or_default();
        let (wa_list, user_list) = (
            wa_list.trim_start_matches('('),
            user_list.trim_end_matches(')'),
        );
        let sql =
            format!("{SELECT} WHERE c.wa_blind IN ({wa_list}) OR c.user_blind IN ({user_list})");
        on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, ContactKeyRow>(sqlx::AssertSqlSafe(sql));
            for blind in blinds.iter().chain(blinds) {
                query = query.bind(blind);
            }
            Ok(query.fetch_all(pool).await?)
        })
    }

    async fn apply_ingest(&self, write: IngestWrite) -> StoreResult<IngestOutcome> {
        match &self.pool {
            Pool::Sqlite(_, writer) => writer.apply(write).await,
            Pool::Postgres(pool) => apply_ingest_postgres(&mut *pool.acquire().await?, write).await,
        }
    }

    async fn list_conversations(
        &self,
        scope: &ConversationScope,
        limit: i64,
        before: Option<(i64, &str)>,
    ) -> StoreResult<Vec<ConversationRow>> {
        let (all, user) = scope_binds(scope);
        // No cursor: everything up to the largest time, any id.
        let (at, id) = before.unwrap_or((i64::MAX, "\u{10ffff}"));
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{CONVERSATION_SELECT} WHERE (v.last_activity_at < $1 OR (v.last_activity_at = $1 AND v.id < $5)) AND {} \
             ORDER BY v.last_activity_at DESC, v.id DESC LIMIT $2", scope_filter(3, 4))))
            .bind(at).bind(limit).bind(all).bind(user).bind(id).fetch_all(pool).await?))
    }

    async fn conversation(
        &self,
        id: &str,
        scope: &ConversationScope,
    ) -> StoreResult<Option<ConversationRow>> {
        let (all, user) = scope_binds(scope);
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{CONVERSATION_SELECT} WHERE v.id = $1 AND {}", scope_filter(2, 3))))
            .bind(id).bind(all).bind(user).fetch_optional(pool).await?))
    }

    async fn list_messages(
        &self,
        conversation_id: &str,
        limit: i64,
        before: Option<i64>,
        before_id: Option<&str>,
    ) -> StoreResult<Vec<MessageRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT m.id, m.conversation_id, m.contact_id, m.wamid, m.direction, m.kind, m.content_ct, m.context_wamid, m.status, \
             m.error_code, m.error_title, m.sent_at, m.created_at, m.updated_at, \
             (SELECT media.state FROM media WHERE media.message_id = m.id LIMIT 1) AS media_state \
             FROM messages m WHERE m.conversation_id = $1 AND (m.created_at < $2 OR (m.created_at = $2 AND m.id < $4)) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $3")
            .bind(conversation_id).bind(before.unwrap_or(i64::MAX)).bind(limit).bind(before_id.unwrap_or(""))
            .fetch_all(pool).await?))
    }

    async fn mark_conversation_read(&self, id: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            let done = sqlx::query("UPDATE conversations SET unread_count = 0 WHERE id = $1").bind(id).execute(pool).await?;
            if done.rows_affected() == 0 { return Err(StoreError::NotFound); }
        });
        Ok(())
    }

    async fn media_for_message(&self, message_id: &str) -> StoreResult<Option<MediaRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, message_id, contact_id, direction, meta_media_id, mime, sha256, state, attempts, size_bytes FROM media WHERE message_id = $1")
            .bind(message_id).fetch_optional(pool).await?))
    }

    async fn count_messages(&self) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(pool).await?))
    }

    async fn sealed_messages(&self, after: &str, limit: i64) -> StoreResult<Vec<SealedMessageRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, contact_id, content_ct, raw_ct FROM messages \
             WHERE id > $1 AND raw_ct IS NOT NULL ORDER BY id LIMIT $2")
            .bind(after).bind(limit).fetch_all(pool).await?))
    }

    async fn reseal_message(&self, id: &str, content_ct: &[u8], raw_ct: &[u8]) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE messages SET content_ct = $1, raw_ct = $2 WHERE id = $3")
            .bind(content_ct).bind(raw_ct).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn count_events(&self, field: &str) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE field = $1").bind(field).fetch_one(pool).await?))
    }

    async fn count_status_events(&self, wamid: &str) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT COUNT(*) FROM status_events WHERE wamid = $1").bind(wamid).fetch_one(pool).await?))
    }

    async fn wamids_present(&self, wamids: &[String]) -> StoreResult<i64> {
        let mut present = 0;
        on_pool!(self, pool => {
            for wamid in wamids {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM messages WHERE wamid = $1").bind(wamid).fetch_optional(pool).await?;
                present += i64::from(found.is_some());
            }
        });
        Ok(present)
    }

    async fn enqueue_outbound(
        &self,
        m: &NewMessage,
        o: &NewOutbox,
        media: Option<&NewMedia>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, context_wamid, \
                 status, status_rank, sent_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)")
                .bind(&m.id).bind(&m.conversation_id).bind(&m.contact_id).bind(&m.wamid).bind(m.direction).bind(&m.kind)
                .bind(&m.content_ct).bind(&m.raw_ct).bind(&m.context_wamid).bind(m.status).bind(m.status_rank)
                .bind(m.sent_at).bind(m.created_at)
                .execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO outbox (id, message_id, contact_id, state, attempts, next_attempt_at, lease_until, request_ct, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 0, $5, 0, $6, $7, $7)")
                .bind(&o.id).bind(&o.message_id).bind(&o.contact_id).bind(o.state).bind(o.due).bind(&o.request_ct).bind(o.now)
                .execute(&mut *tx).await?;
            if let Some(media) = media {
                insert_media!(media, &mut *tx);
            }
            sqlx::query("UPDATE conversations SET last_activity_at = CASE WHEN last_activity_at < $1 THEN $1 ELSE last_activity_at END WHERE id = $2")
                .bind(m.created_at).bind(&m.conversation_id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn cancel_scheduled(
        &self,
        conversation_id: &str,
        message_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let cancelled = sqlx::query(
                "UPDATE outbox SET state = 'cancelled', updated_at = $1 WHERE message_id = $2 AND state = 'scheduled' \
                 AND message_id IN (SELECT id FROM messages WHERE conversation_id = $3)")
                .bind(now).bind(message_id).bind(conversation_id).execute(&mut *tx).await?.rows_affected() == 1;
            if cancelled {
                sqlx::query("UPDATE messages SET status = 'cancelled', updated_at = $1 WHERE id = $2")
                    .bind(now).bind(message_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(cancelled)
        })
    }

    async fn expire_stuck_sends(&self, now: i64, reconcile_until: i64) -> StoreResult<u64> {
        on_pool!(self, pool => Ok(sqlx::query(
            "UPDATE outbox SET state = 'ambiguous', next_attempt_at = $1, updated_at = $2 WHERE state = 'sending' AND lease_until < $2")
            .bind(reconcile_until).bind(now).execute(pool).await?.rows_affected()))
    }

    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxClaim>> {
        let sql = self.claim_sql(CLAIM_OUTBOX);
        let mut rows: Vec<OutboxClaim> = on_pool!(self, pool => sqlx::query_as(sql).bind(lease_until).bind(now).bind(limit).fetch_all(pool).await?);
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rows)
    }

    async fn outbox_retry(
        &self,
        id: &str,
        next_attempt_at: i64,
        attempts: i64,
        error_code: Option<i64>,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outbox SET state = 'queued', next_attempt_at = $1, attempts = $2, last_error_code = $3, updated_at = $4 WHERE id = $5 AND state = 'sending'")
            .bind(next_attempt_at).bind(attempts).bind(error_code).bind(now).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn outbox_ambiguous(
        &self,
        id: &str,
        reconcile_until: i64,
        attempts: i64,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE outbox SET state = 'ambiguous', next_attempt_at = $1, attempts = $2, updated_at = $3 WHERE id = $4 AND state = 'sending'")
            .bind(reconcile_until).bind(attempts).bind(now).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn outbox_sent(&self, claim: &OutboxClaim, wamid: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE messages SET wamid = $1, status = CASE WHEN status_rank < 10 THEN 'accepted' ELSE status END, \
                 status_rank = CASE WHEN status_rank < 10 THEN 10 ELSE status_rank END, updated_at = $2 \
                 WHERE id = $3 AND (wamid IS NULL OR wamid = $1)")
                .bind(wamid).bind(now).bind(&claim.message_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE outbox SET state = 'sent', attempts = attempts + 1, updated_at = $1 WHERE id = $2")
                .bind(now).bind(&claim.id).execute(&mut *tx).await?;
            // Statuses may have arrived before we knew the wamid; apply the furthest one now.
            let best: Option<(String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
                "SELECT status, status_rank, error_code, error_title FROM status_events WHERE wamid = $1 ORDER BY status_rank DESC LIMIT 1")
                .bind(wamid).fetch_optional(&mut *tx).await?;
            if let Some((status, rank, code, title)) = best {
                sqlx::query("UPDATE messages SET status = $1, status_rank = $2, error_code = $3, error_title = $4 WHERE id = $5 AND status_rank < $2")
                    .bind(status).bind(rank).bind(code).bind(title).bind(&claim.message_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn outbox_failed(
        &self,
        claim: &OutboxClaim,
        code: i64,
        title: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE messages SET status = 'failed', status_rank = 35, error_code = $1, error_title = $2, updated_at = $3 WHERE id = $4")
                .bind(code).bind(title).bind(now).bind(&claim.message_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error_code = $1, updated_at = $2 WHERE id = $3")
                .bind(code).bind(now).bind(&claim.id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn outbox_state(&self, message_id: &str) -> StoreResult<Option<String>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT state FROM outbox WHERE message_id = $1").bind(message_id).fetch_optional(pool).await?))
    }

    async fn set_media_meta_id(&self, media_id: &str, meta_media_id: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE media SET meta_media_id = $1 WHERE id = $2").bind(meta_media_id).bind(media_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn claim_media(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<MediaRow>> {
        let sql = self.claim_sql(CLAIM_MEDIA);
        Ok(
            on_pool!(self, pool => sqlx::query_as(sql).bind(lease_until).bind(now).bind(limit).fetch_all(pool).await?),
        )
    }

    async fn media_done(
        &self,
        id: &str,
        state: &str,
        size: Option<i64>,
        mime: Option<&str>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE media SET state = $1, size_bytes = COALESCE($2, size_bytes), mime = COALESCE($3, mime), last_error = $4 WHERE id = $5")
            .bind(state).bind(size).bind(mime).bind(error).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn media_retry(
        &self,
        id: &str,
        next_attempt_at: i64,
        attempts: i64,
        error: &str,
    ) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE media SET state = 'pending', next_attempt_at = $1, attempts = $2, last_error = $3 WHERE id = $4")
            .bind(next_attempt_at).bind(attempts).bind(error).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn contact_key(&self, contact_id: &str) -> StoreResult<Option<SealedKeyRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT master_version, sealed_key FROM contacts WHERE id = $1 AND sealed_key IS NOT NULL AND master_version IS NOT NULL")
            .bind(contact_id).fetch_optional(pool).await?))
    }

    async fn keys_to_rewrap(&self, current: i64, limit: i64) -> StoreResult<Vec<KeyOwnerRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT owner_table, owner_id, master_version, sealed_key FROM ( \
               SELECT 'contacts' AS owner_table, id AS owner_id, master_version, sealed_key FROM contacts \
               WHERE sealed_key IS NOT NULL AND master_version <> $1 \
               UNION ALL \
               SELECT 'installation_keys' AS owner_table, name AS owner_id, master_version, sealed_key FROM installation_keys \
               WHERE master_version <> $1) k ORDER BY owner_table, owner_id LIMIT $2")
            .bind(current).bind(limit).fetch_all(pool).await?))
    }

    async fn rewrap_key(&self, owner: &KeyOwnerRow, fresh: &SealedKeyRow) -> StoreResult<bool> {
        let done = on_pool!(self, pool => match owner.owner_table.as_str() {
            "contacts" => sqlx::query("UPDATE contacts SET master_version = $1, sealed_key = $2 WHERE id = $3 AND master_version = $4")
                .bind(fresh.master_version).bind(&fresh.sealed_key).bind(&owner.owner_id).bind(owner.master_version)
                .execute(pool).await?.rows_affected(),
            _ => sqlx::query("UPDATE installation_keys SET master_version = $1, sealed_key = $2 WHERE name = $3 AND master_version = $4")
                .bind(fresh.master_version).bind(&fresh.sealed_key).bind(&owner.owner_id).bind(owner.master_version)
                .execute(pool).await?.rows_affected(),
        });
        Ok(done == 1)
    }

    async fn key_versions_in_use(&self) -> StoreResult<Vec<(i64, i64)>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT master_version, COUNT(*) FROM ( \
               SELECT master_version FROM contacts WHERE sealed_key IS NOT NULL \
               UNION ALL SELECT master_version FROM installation_keys) k \
             GROUP BY master_version ORDER BY master_version")
            .fetch_all(pool).await?))
    }

    async fn rekey_contact(
        &self,
        contact_id: &str,
        fresh: &SealedKeyRow,
        key_id: &str,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE contacts SET master_version = $1, sealed_key = $2, key_id = $3 WHERE id = $4 AND sealed_key IS NULL")
            .bind(fresh.master_version).bind(&fresh.sealed_key).bind(key_id).bind(contact_id).execute(pool).await?.rows_affected() == 1))
    }

    async fn shred_contact_key(&self, contact_id: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE contacts SET sealed_key = NULL, master_version = NULL, key_id = NULL WHERE id = $1")
            .bind(contact_id).execute(pool).await?.rows_affected());
        Ok(())
    }
}

fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let server = match base.rfind('/') {
        Some(i) if base[..i].ends_with('/') => base,
        Some(i) => &base[..i],
        None => base,
    };
    let server = server.trim_end_matches('/');
    query.map_or_else(
        || format!("{server}/{name}"),
        |q| format!("{server}/{name}?{q}"),
    )
}

pub(super) async fn create_database(admin_url: &str, name: &str) -> StoreResult<String> {
    if !valid_database_name(name) {
        return Err(StoreError::UnsupportedUrl);
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    // A database name cannot be a bind parameter; `name` is checked to be [a-z0-9_] above.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(with_database(admin_url, name))
}

pub(super) async fn drop_database(admin_url: &str, name: &str) -> StoreResult<()> {
    if !valid_database_name(name) {
        return Err(StoreError::UnsupportedUrl);
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

/// Inserts one chunk of inbound messages and brings their conversations and contacts up to date,
/// in one statement: the messages (a wamid seen before is skipped), per conversation the unread
/// count, last activity and last inbound time aggregated from the rows actually inserted, and
/// each renamed contact's latest name (only under the data key it was sealed with). The
/// update also proves each contact still has the data key its messages were sealed with; if a
/// conversation was not updated (key shredded or replaced meanwhile), `veil_assert` raises and
/// the statement, with its transaction, fails. Arrays, one per column, keep the text fixed, so it
/// is parsed and planned once per connection (a `VALUES` list of n rows is a new statement for
/// every n, and planning 2,000 parameters cost more than the insert).
const INGEST_MESSAGES_POSTGRES: &str = "\
WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], \
    $8::bytea[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::bigint[]) \
    AS v(id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, context_wamid, status, \
    status_rank, sent_at, created_at, key_id, inbound_at)), \
ins AS (INSERT INTO messages (id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, \
    context_wamid, status, status_rank, sent_at, created_at, updated_at) \
    SELECT id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, context_wamid, status, \
    status_rank, sent_at, created_at, created_at FROM v \
    ON CONFLICT (wamid) DO NOTHING RETURNING id), \
t AS (SELECT v.conversation_id AS id, min(v.key_id) AS key_id, count(*) FILTER (WHERE v.direction = 'in') AS unread, \
    max(v.created_at) AS activity, max(v.inbound_at) AS inbound FROM ins JOIN v ON v.id = ins.id \
    GROUP BY v.conversation_id), \
upd AS (UPDATE conversations SET unread_count = conversations.unread_count + t.unread, status = 'open', \
    last_activity_at = GREATEST(conversations.last_activity_at, t.activity), \
    last_inbound_at = GREATEST(conversations.last_inbound_at, t.inbound) \
    FROM t WHERE conversations.id = t.id \
    AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = conversations.contact_id AND c.key_id = t.key_id) \
    RETURNING 1), \
ren AS (UPDATE contacts SET name_ct = r.name FROM unnest($16::text[], $17::bytea[], $18::text[]) AS r(id, name, key_id) \
    WHERE contacts.id = r.id AND contacts.key_id = r.key_id RETURNING 1) \
SELECT ins.id FROM ins WHERE veil_assert((SELECT count(*) FROM upd) = (SELECT count(*) FROM t), 'stale contact key')";

/// The SQLSTATE `veil_assert` raises (migration 0008).
const ASSERT_SQLSTATE: &str = "VE001";

/// Each renamed contact of a chunk once (an `UPDATE … FROM` may not update a row twice), with its
/// latest name: (contact id, sealed name, key id).
fn latest_names(chunk: &[InboundMessageWrite]) -> Vec<(&str, &[u8], &str)> {
    let mut latest: HashMap<&str, usize> = HashMap::new();
    let mut renamed: Vec<(&str, &[u8], &str)> = Vec::new();
    for item in chunk {
        if let Some(name_ct) = &item.touch.name_ct {
            let entry = (
                item.message.contact_id.as_str(),
                name_ct.as_slice(),
                item.touch.key_id.as_str(),
            );
            match latest.get(entry.0).and_then(|&i| renamed.get_mut(i)) {
                Some(slot) => *slot = entry,
                None => {
                    latest.insert(entry.0, renamed.len());
                    renamed.push(entry);
                }
            }
        }
    }
    renamed
}

/// One bind array: `f` of every row.
fn column<'a, R, T>(rows: &'a [R], f: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Runs [`INGEST_MESSAGES_POSTGRES`] for one chunk; returns the ids of the messages inserted.
async fn insert_messages_postgres(
    conn: &mut sqlx::PgConnection,
    chunk: &[InboundMessageWrite],
) -> StoreResult<HashSet<String>> {
    let renamed = latest_names(chunk);
    let inserted = sqlx::query_scalar::<_, String>(INGEST_MESSAGES_POSTGRES)
        .bind(column(chunk, |i| i.message.id.as_str()))
        .bind(column(chunk, |i| i.message.conversation_id.as_str()))
        .bind(column(chunk, |i| i.message.contact_id.as_str()))
        .bind(column(chunk, |i| i.message.wamid.as_deref()))
        .bind(column(chunk, |i| i.message.direction))
        .bind(column(chunk, |i| i.message.kind.as_str()))
        .bind(column(chunk, |i| i.message.content_ct.as_slice()))
        .bind(column(chunk, |i| i.message.raw_ct.as_deref()))
        .bind(column(chunk, |i| i.message.context_wamid.as_deref()))
        .bind(column(chunk, |i| i.message.status))
        .bind(column(chunk, |i| i.message.status_rank))
        .bind(column(chunk, |i| i.message.sent_at))
        .bind(column(chunk, |i| i.message.created_at))
        .bind(column(chunk, |i| i.touch.key_id.as_str()))
        .bind(column(chunk, |i| i.touch.last_inbound_at))
        .bind(column(&renamed, |r| r.0))
        .bind(column(&renamed, |r| r.1))
        .bind(column(&renamed, |r| r.2))
        .fetch_all(conn)
        .await;
    match inserted {
        Ok(ids) => Ok(ids.into_iter().collect()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(ASSERT_SQLSTATE) => {
            Err(StoreError::StaleContactKey(String::new()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a group is only new messages of known contacts: then, if its messages fit one
/// chunk, that chunk's statement alone is the transaction (no `BEGIN`/`COMMIT` round trips).
fn messages_only(write: &IngestWrite) -> bool {
    write.contacts.is_empty()
        && write.links.is_empty()
        && write.statuses.is_empty()
        && write.events.is_empty()
        && write.messages.iter().all(|i| i.media.is_none())
}

/// Writes one ingest group on PostgreSQL: a group of only messages from known contacts is one
/// statement (its own transaction: one round trip); any other group is one transaction of
/// multi-row statements.
#[allow(
    clippy::too_many_lines,
    reason = "one transaction's statements in the order they must run"
)]
pub(super) async fn apply_ingest_postgres(
    conn: &mut sqlx::PgConnection,
    write: IngestWrite,
) -> StoreResult<IngestOutcome> {
    let mut outcome = IngestOutcome::default();
    let chunks = message_chunks(&write.messages);
    if messages_only(&write) && chunks.len() <= 1 {
        if let Some(chunk) = chunks.first() {
            let inserted = insert_messages_postgres(conn, chunk).await?;
            outcome.messages_inserted = inserted.len() as u64;
            outcome.duplicates = (chunk.len() - inserted.len()) as u64;
        }
        return Ok(outcome);
    }
    {
        let mut tx = sqlx::Connection::begin(conn).await?;
        // New contacts and their conversations: one statement, whatever their number: the
        // contacts in a CTE, their conversations in the main insert (its foreign-key checks run
        // at its end and see the contacts). Arrays keep the statement text fixed (prepared once).
        if !write.contacts.is_empty() {
            let c = &write.contacts;
            sqlx::query(
                "WITH c AS (INSERT INTO contacts (id, channel_id, wa_blind, user_blind, master_version, sealed_key, wa_id_ct, user_id_ct, created_at, key_id) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bigint[], $10::text[])) \
                 INSERT INTO conversations (id, contact_id, channel_id, status, unread_count, last_activity_at, created_at) \
                 SELECT v.id, v.contact_id, v.channel_id, 'open', 0, v.at, v.at \
                 FROM unnest($11::text[], $1::text[], $2::text[], $9::bigint[]) AS v(id, contact_id, channel_id, at)")
                .bind(column(c, |c| c.id.as_str()))
                .bind(column(c, |c| c.channel_id.as_str()))
                .bind(column(c, |c| c.wa_blind.as_deref()))
                .bind(column(c, |c| c.user_blind.as_deref()))
                .bind(column(c, |c| c.key.master_version))
                .bind(column(c, |c| c.key.sealed_key.as_slice()))
                .bind(column(c, |c| c.wa_id_ct.as_deref()))
                .bind(column(c, |c| c.user_id_ct.as_deref()))
                .bind(column(c, |c| c.created_at))
                .bind(column(c, |c| c.key_id.as_str()))
                .bind(column(c, |c| c.conversation_id.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        for l in &write.links {
            sqlx::query(
                "UPDATE contacts SET wa_blind = COALESCE(wa_blind, $1), wa_id_ct = COALESCE(wa_id_ct, $2), \
                 user_blind = COALESCE(user_blind, $3), user_id_ct = COALESCE(user_id_ct, $4) WHERE id = $5")
                .bind(&l.wa_blind).bind(&l.wa_id_ct).bind(&l.user_blind).bind(&l.user_id_ct).bind(&l.contact_id)
                .execute(&mut *tx).await?;
        }
        for chunk in chunks {
            let inserted = insert_messages_postgres(&mut tx, chunk).await?;
            let fresh: Vec<&InboundMessageWrite> = chunk
                .iter()
                .filter(|i| inserted.contains(&i.message.id))
                .collect();
            outcome.messages_inserted += fresh.len() as u64;
            outcome.duplicates += (chunk.len() - fresh.len()) as u64;
            for item in &fresh {
                if let Some(media) = &item.media {
                    insert_media!(media, &mut *tx);
                }
            }
        }
        for s in &write.statuses {
            sqlx::query(
                "INSERT INTO status_events (id, wamid, status, status_rank, error_code, error_title, recipient_blind, raw_ct, occurred_at, received_at, digest, key_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (digest) DO NOTHING")
                .bind(&s.id).bind(&s.wamid).bind(&s.status).bind(s.status_rank).bind(s.error_code).bind(&s.error_title)
                .bind(&s.recipient_blind).bind(&s.raw_ct).bind(s.occurred_at).bind(s.received_at).bind(&s.digest).bind(&s.key_name)
                .execute(&mut *tx).await?;
            if let Some(ours) = &s.our_message_id {
                // Reconciles a send whose response was lost: Meta echoes our id with the wamid.
                sqlx::query("UPDATE messages SET wamid = $1 WHERE id = $2 AND wamid IS NULL")
                    .bind(&s.wamid)
                    .bind(ours)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE outbox SET state = 'sent', updated_at = $1 WHERE message_id = $2 AND state IN ('sending', 'ambiguous', 'queued')")
                    .bind(s.received_at).bind(ours).execute(&mut *tx).await?;
            }
            let applied = sqlx::query(
                "UPDATE messages SET status = $1, status_rank = $2, error_code = COALESCE($3, error_code), \
                 error_title = COALESCE($4, error_title), updated_at = $5 WHERE wamid = $6 AND status_rank < $2")
                .bind(&s.status).bind(s.status_rank).bind(s.error_code).bind(&s.error_title).bind(s.received_at).bind(&s.wamid)
                .execute(&mut *tx).await?;
            outcome.statuses_applied += applied.rows_affected();
        }
        for e in &write.events {
            sqlx::query("INSERT INTO events (id, field, raw_ct, received_at, digest, key_name) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO NOTHING")
                .bind(&e.id)
                .bind(&e.field).bind(&e.raw_ct).bind(e.received_at).bind(&e.digest).bind(&e.key_name).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_chunks_stay_under_the_byte_and_row_caps() {
        use crate::store::{ContactTouch, NewMessage};
        let item = |n: usize, size: usize| InboundMessageWrite {
            message: NewMessage {
                id: n.to_string(),
                conversation_id: String::new(),
                contact_id: String::new(),
                wamid: None,
                direction: "in",
                kind: "text".into(),
                content_ct: vec![0; size],
                raw_ct: Some(vec![0; size * 2]),
                context_wamid: None,
                status: "received",
                status_rank: 0,
                sent_at: 0,
                created_at: 0,
            },
            touch: ContactTouch {
                key_id: String::new(),
                name_ct: None,
                last_inbound_at: 0,
            },
            media: None,
        };
        let bytes = |c: &[InboundMessageWrite]| -> usize {
            c.iter()
                .map(|i| {
                    i.message.content_ct.len() + i.message.raw_ct.as_ref().map_or(0, Vec::len) + 256
                })
                .sum()
        };
        // Large messages: cut by bytes. Tiny ones: cut by rows.
        for (count, size) in [(1_000, 1_000), (1_200, 10)] {
            let messages: Vec<InboundMessageWrite> = (0..count).map(|n| item(n, size)).collect();
            let chunks = message_chunks(&messages);
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(sizes.iter().sum::<usize>(), count);
            assert!(chunks.len() > 1, "{sizes:?}");
            assert!(
                chunks
                    .iter()
                    .all(|c| !c.is_empty() && c.len() <= MESSAGE_CHUNK && bytes(c) <= CHUNK_BYTES),
                "{sizes:?}"
            );
        }
        assert!(message_chunks(&[]).is_empty());
    }

    #[test]
    fn each_renamed_contact_gets_its_latest_name_once() {
        use crate::store::{ContactTouch, NewMessage};
        let item = |contact: &str, name: Option<&str>| InboundMessageWrite {
            message: NewMessage {
                id: String::new(),
                conversation_id: String::new(),
                contact_id: contact.into(),
                wamid: None,
                direction: "in",
                kind: "text".into(),
                content_ct: Vec::new(),
                raw_ct: None,
                context_wamid: None,
                status: "received",
                status_rank: 0,
                sent_at: 0,
                created_at: 0,
            },
            touch: ContactTouch {
                key_id: format!("key-{contact}"),
                name_ct: name.map(|n| n.as_bytes().to_vec()),
                last_inbound_at: 0,
            },
            media: None,
        };
        let chunk = [
            item("a", Some("first")),
            item("b", None),
            item("c", Some("only")),
            item("a", Some("second")),
            item("a", None),
        ];
        assert_eq!(
            latest_names(&chunk),
            vec![
                ("a", b"second".as_slice(), "key-a"),
                ("c", b"only".as_slice(), "key-c")
            ]
        );
    }

    #[test]
    fn placeholders_number_rows_and_cast_columns() {
        assert_eq!(
            placeholders(Dialect::Postgres, 2, 2, &[]),
            "($1, $2), ($3, $4)"
        );
        assert_eq!(
            placeholders(Dialect::Postgres, 1, 2, &["TEXT"]),
            "(CAST($1 AS TEXT), $2)"
        );
        assert_eq!(
            placeholders(Dialect::Sqlite, 2, 2, &["TEXT"]),
            "(CAST(? AS TEXT), ?), (CAST(? AS TEXT), ?)"
        );
    }

    #[test]
    fn scratch_urls_replace_only_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert!(!valid_database_name("x; DROP"));
    }
}
