//! `SqlStore` implements `Store`: channels, contacts, conversations, messages, the outbox,
//! media and data keys. The statements are portable (`$n` placeholders, epoch integers,
//! `ON CONFLICT`, `RETURNING`), so each is written once and `on_pool!` compiles it for both
//! drivers (see `pool.rs`).

use async_trait::async_trait;

use super::ingest_postgres::apply_ingest_postgres;
use super::pool::{BeginWrite as _, Pool, SqlStore, insert_media, on_pool, placeholders};
use super::{
    ChannelRow, ContactKeyRow, ConversationRow, ConversationScope, IngestOutcome, IngestWrite,
    KeyOwnerRow, MediaRow, MessageRow, NewMedia, NewMessage, NewOutbox, OutboxClaim, SealedKeyRow,
    SealedMessageRow, Store, StoreError, StoreResult,
};

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
