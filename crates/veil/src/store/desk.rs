//! What the web inbox adds to storage: filtered lists and unread counts, conversation status,
//! labels, internal notes (sealed), canned replies, a user's language.

use async_trait::async_trait;

use super::pool::{BeginWrite as _, Pool, on_pool};
use super::sql::{CONVERSATION_SELECT, scope_binds, scope_filter};
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

/// Adds a text parameter after the two scope parameters; returns its number.
fn param<'a>(texts: &mut Vec<&'a str>, value: &'a str) -> usize {
    texts.push(value);
    texts.len() + 2
}

/// Unread counts stop here; the page shows "999+".
pub const UNREAD_CAP: i64 = 1_000;

/// Conversations with unread messages (not resolved), per view, each at most `UNREAD_CAP`.
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
        // Only the filters in use become clauses, so each query gets the plan it needs (a label
        // drives from its own index); every value is still a bound parameter.
        let (all, user) = scope_binds(scope);
        let mut clauses = vec![scope_filter(1, 2)];
        let mut texts: Vec<&str> = Vec::new();
        match filter.view.as_str() {
            "mine" => clauses.push(format!("v.assignee_id = ${}", param(&mut texts, me))),
            "unassigned" => clauses.push("v.assignee_id IS NULL".into()),
            "team" => clauses.push(format!(
                "v.team_id IN (SELECT team_id FROM team_members WHERE user_id = ${})",
                param(&mut texts, me)
            )),
            _ => {}
        }
        if !filter.status.is_empty() {
            clauses.push(format!("v.status = ${}", param(&mut texts, &filter.status)));
        }
        // With a label, the label's conversations come first (`CROSS JOIN` fixes that order on
        // SQLite; PostgreSQL plans it from statistics either way): they are few next to all.
        let select = if filter.label.is_empty() {
            CONVERSATION_SELECT.to_owned()
        } else {
            clauses.push(format!(
                "l.label_id = ${} AND v.id = l.conversation_id",
                param(&mut texts, &filter.label)
            ));
            CONVERSATION_SELECT.replacen(
                "FROM conversations v",
                "FROM conversation_labels l CROSS JOIN conversations v",
                1,
            )
        };
        let text = format!(
            "{select} WHERE {} ORDER BY v.last_activity_at DESC, v.id DESC LIMIT ${}",
            clauses.join(" AND "),
            texts.len() + 3
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(text.clone())).bind(all).bind(&user);
            for value in &texts {
                query = query.bind(*value);
            }
            Ok(query.bind(limit).fetch_all(pool).await?)
        })
    }

    async fn unread_counts(
        &self,
        scope: &ConversationScope,
        me: &str,
    ) -> StoreResult<UnreadCounts> {
        // Each count stops at UNREAD_CAP: past that a number helps nobody ("999+"), and the
        // counts stay cheap however many conversations wait.
        let (all, user) = scope_binds(scope);
        let count = |name: &str, condition: &str| {
            format!(
                "(SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 FROM conversations v \
                 WHERE v.unread_count > 0 AND v.status <> 'resolved' AND {} AND {condition} LIMIT $4) {name}_rows) AS {name}",
                scope_filter(1, 2)
            )
        };
        let text = format!(
            "SELECT {}, {}, {}, {}",
            count("mine", "v.assignee_id = $3"),
            count("unassigned", "v.assignee_id IS NULL"),
            count(
                "team",
                "v.team_id IN (SELECT team_id FROM team_members WHERE user_id = $3)"
            ),
            count("everything", "1 = 1"),
        );
        let row: (i64, i64, i64, i64) = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(text.clone()))
            .bind(all).bind(&user).bind(me).bind(UNREAD_CAP).fetch_one(pool).await?);
        Ok(UnreadCounts {
            mine: row.0,
            unassigned: row.1,
            team: row.2,
            all: row.3,
        })
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
