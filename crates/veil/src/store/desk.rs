//! What the web inbox adds to storage: filtered lists and unread counts, conversation status,
//! labels, internal notes (sealed), canned replies, a user's language.

use async_trait::async_trait;

use super::sql::{BeginWrite as _, CONVERSATION_SELECT, Pool, on_pool, scope_binds, scope_filter};
use super::{ConversationRow, ConversationScope, SqlStore, StoreResult};

/// Which conversations an inbox view lists (within the caller's scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    /// `mine`, `unassigned`, `team`, or empty for all.
    pub view: String,
    /// `open`, `pending`, `resolved`, or empty for any.
    pub status: String,
    /// A label id, or empty for any.
    pub label: String,
}

/// Conversations with unread messages (not resolved), per view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct UnreadCounts {
    pub mine: i64,
    pub unassigned: i64,
    pub team: i64,
    pub all: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LabelRow {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CannedReplyRow {
    pub id: String,
    pub shortcut: String,
    pub body: String,
}

/// An internal note; `body_ct` is sealed with the contact's data key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoteRow {
    pub id: String,
    pub conversation_id: String,
    pub author_id: String,
    pub author_name: String,
    pub body_ct: Vec<u8>,
    pub created_at: i64,
}

#[async_trait]
pub trait DeskStore {
    async fn list_inbox(
        &self,
        scope: &ConversationScope,
        me: &str,
        filter: &InboxFilter,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRow>>;
    async fn unread_counts(&self, scope: &ConversationScope, me: &str)
    -> StoreResult<UnreadCounts>;
    async fn set_conversation_status(&self, id: &str, status: &str) -> StoreResult<bool>;

    async fn labels(&self) -> StoreResult<Vec<LabelRow>>;
    async fn insert_label(&self, label: &LabelRow, now: i64) -> StoreResult<bool>;
    async fn labels_of(&self, conversation_id: &str) -> StoreResult<Vec<LabelRow>>;
    async fn set_label(&self, conversation_id: &str, label_id: &str, on: bool) -> StoreResult<()>;

    async fn insert_note(&self, note: &NoteRow) -> StoreResult<()>;
    async fn notes_of(&self, conversation_id: &str) -> StoreResult<Vec<NoteRow>>;

    async fn canned_replies(&self) -> StoreResult<Vec<CannedReplyRow>>;
    async fn insert_canned_reply(&self, reply: &CannedReplyRow, now: i64) -> StoreResult<bool>;
    async fn delete_canned_reply(&self, id: &str) -> StoreResult<bool>;

    async fn set_user_language(&self, user_id: &str, language: &str) -> StoreResult<bool>;
}

#[async_trait]
impl DeskStore for SqlStore {
    async fn list_inbox(
        &self,
        scope: &ConversationScope,
        me: &str,
        filter: &InboxFilter,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRow>> {
        let (all, user) = scope_binds(scope);
        let text = format!(
            "{CONVERSATION_SELECT} WHERE {} \
             AND ($3 = '' OR ($3 = 'mine' AND v.assignee_id = $4) \
                  OR ($3 = 'unassigned' AND v.assignee_id IS NULL) \
                  OR ($3 = 'team' AND v.team_id IN (SELECT team_id FROM team_members WHERE user_id = $4))) \
             AND ($5 = '' OR v.status = $5) \
             AND ($6 = '' OR EXISTS (SELECT 1 FROM conversation_labels l \
                                     WHERE l.conversation_id = v.id AND l.label_id = $6)) \
             ORDER BY v.last_activity_at DESC, v.id DESC LIMIT $7",
            scope_filter(1, 2)
        );
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(text.clone()))
            .bind(all).bind(&user).bind(&filter.view).bind(me).bind(&filter.status).bind(&filter.label)
            .bind(limit).fetch_all(pool).await?))
    }

    async fn unread_counts(
        &self,
        scope: &ConversationScope,
        me: &str,
    ) -> StoreResult<UnreadCounts> {
        let (all, user) = scope_binds(scope);
        let text = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN v.assignee_id = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS mine, \
             CAST(COALESCE(SUM(CASE WHEN v.assignee_id IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS unassigned, \
             CAST(COALESCE(SUM(CASE WHEN v.team_id IN (SELECT team_id FROM team_members WHERE user_id = $3) \
                  THEN 1 ELSE 0 END), 0) AS BIGINT) AS team, \
             CAST(COUNT(*) AS BIGINT) AS \"all\" \
             FROM conversations v WHERE v.unread_count > 0 AND v.status <> 'resolved' AND {}",
            scope_filter(1, 2)
        );
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(text.clone()))
            .bind(all).bind(&user).bind(me).fetch_one(pool).await?))
    }

    async fn set_conversation_status(&self, id: &str, status: &str) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE conversations SET status = $1 WHERE id = $2")
            .bind(status).bind(id).execute(pool).await?.rows_affected() == 1))
    }

    async fn labels(&self) -> StoreResult<Vec<LabelRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as("SELECT id, name FROM labels ORDER BY name")
            .fetch_all(pool).await?))
    }

    async fn insert_label(&self, label: &LabelRow, now: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "INSERT INTO labels (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(&label.id).bind(&label.name).bind(now).execute(pool).await?.rows_affected() == 1))
    }

    async fn labels_of(&self, conversation_id: &str) -> StoreResult<Vec<LabelRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT l.id, l.name FROM labels l JOIN conversation_labels cl ON cl.label_id = l.id \
             WHERE cl.conversation_id = $1 ORDER BY l.name")
            .bind(conversation_id).fetch_all(pool).await?))
    }

    async fn set_label(&self, conversation_id: &str, label_id: &str, on: bool) -> StoreResult<()> {
        let text = if on {
            "INSERT INTO conversation_labels (conversation_id, label_id) VALUES ($1, $2) \
             ON CONFLICT (conversation_id, label_id) DO NOTHING"
        } else {
            "DELETE FROM conversation_labels WHERE conversation_id = $1 AND label_id = $2"
        };
        on_pool!(self, pool => sqlx::query(text).bind(conversation_id).bind(label_id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn insert_note(&self, note: &NoteRow) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO notes (id, conversation_id, author_id, body_ct, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&note.id).bind(&note.conversation_id).bind(&note.author_id).bind(&note.body_ct)
                .bind(note.created_at).execute(&mut *tx).await?;
            sqlx::query("UPDATE conversations SET last_activity_at = $1 WHERE id = $2 AND last_activity_at < $1")
                .bind(note.created_at).bind(&note.conversation_id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn notes_of(&self, conversation_id: &str) -> StoreResult<Vec<NoteRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT n.id, n.conversation_id, n.author_id, u.display_name AS author_name, n.body_ct, n.created_at \
             FROM notes n JOIN users u ON u.id = n.author_id WHERE n.conversation_id = $1 \
             ORDER BY n.created_at, n.id")
            .bind(conversation_id).fetch_all(pool).await?))
    }

    async fn canned_replies(&self) -> StoreResult<Vec<CannedReplyRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, shortcut, body FROM canned_replies ORDER BY shortcut").fetch_all(pool).await?))
    }

    async fn insert_canned_reply(&self, reply: &CannedReplyRow, now: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "INSERT INTO canned_replies (id, shortcut, body, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (shortcut) DO NOTHING")
            .bind(&reply.id).bind(&reply.shortcut).bind(&reply.body).bind(now)
            .execute(pool).await?.rows_affected() == 1))
    }

    async fn delete_canned_reply(&self, id: &str) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("DELETE FROM canned_replies WHERE id = $1")
            .bind(id).execute(pool).await?.rows_affected() == 1))
    }

    async fn set_user_language(&self, user_id: &str, language: &str) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE users SET language = $1 WHERE id = $2")
            .bind(language).bind(user_id).execute(pool).await?.rows_affected() == 1))
    }
}
