//! What the admin pages and the auto-assigner add to storage: team routing and membership,
//! channel names and teams, labels removed, settings, and the assigner's queue and claims.

use async_trait::async_trait;

use super::pool::{BeginWrite as _, Pool, on_pool};
use super::{SqlStore, StoreResult};

/// A team with its auto-assignment settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamDetailRow {
    pub id: String,
    pub name: String,
    /// 1: new unassigned conversations of the team are assigned round-robin.
    pub auto_assign: i64,
    /// Open conversations one member may hold before the assigner passes them over.
    pub capacity: i64,
}

/// A business number and where its conversations go.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelDetailRow {
    pub id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub name: String,
    pub team_id: Option<String>,
    pub conversations: i64,
}

/// An open conversation nobody holds, and the team whose members may get it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedConversation {
    pub id: String,
    pub team_id: String,
}

/// A team member as the assigner sees them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberLoad {
    pub user_id: String,
    pub role: String,
    /// Open conversations assigned to them.
    pub open: i64,
    /// When the assigner last gave them one (round-robin order).
    pub last_assigned_at: i64,
    /// 1 when a signed-in session of theirs was active since the asked time.
    pub online: i64,
}

#[async_trait]
pub trait AdminStore {
    async fn team_details(&self) -> StoreResult<Vec<TeamDetailRow>>;
    async fn count_conversations(&self) -> StoreResult<i64>;
    async fn set_team_routing(
        &self,
        team_id: &str,
        auto_assign: bool,
        capacity: i64,
    ) -> StoreResult<bool>;
    /// Every (team id, user id) membership.
    async fn team_memberships(&self) -> StoreResult<Vec<(String, String)>>;
    async fn remove_team_member(&self, team_id: &str, user_id: &str) -> StoreResult<bool>;
    async fn channels(&self) -> StoreResult<Vec<ChannelDetailRow>>;
    async fn set_channel(&self, id: &str, name: &str, team_id: Option<&str>) -> StoreResult<bool>;
    /// Removes a label from every conversation, then the label.
    async fn delete_label(&self, id: &str) -> StoreResult<bool>;
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    async fn put_setting(&self, name: &str, value: &str, now: i64) -> StoreResult<()>;
    /// Open, unassigned conversations whose team (their own, else their channel's) assigns
    /// automatically; the longest waiting first.
    async fn auto_assign_queue(&self, limit: i64) -> StoreResult<Vec<QueuedConversation>>;
    /// Active members of a team with their load and presence.
    async fn member_loads(&self, team_id: &str, online_since: i64) -> StoreResult<Vec<MemberLoad>>;
    /// Sets assignee, team and status of a slice of conversations (in id order). Used by
    /// `veil seed` to spread a synthetic database over agents, teams and states.
    async fn spread_conversations(
        &self,
        offset: i64,
        limit: i64,
        assignee: Option<&str>,
        team: Option<&str>,
        status: &str,
    ) -> StoreResult<u64>;
    /// Gives the conversation to `user_id` if it is still open and unassigned, and moves the
    /// member to the back of the round-robin; false when someone else got there first.
    async fn claim_assignment(
        &self,
        conversation_id: &str,
        user_id: &str,
        team_id: &str,
        now: i64,
    ) -> StoreResult<bool>;
}

#[async_trait]
impl AdminStore for SqlStore {
    async fn team_details(&self) -> StoreResult<Vec<TeamDetailRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, name, auto_assign, capacity FROM teams ORDER BY name")
            .fetch_all(pool).await?))
    }

    async fn set_team_routing(
        &self,
        team_id: &str,
        auto_assign: bool,
        capacity: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE teams SET auto_assign = $1, capacity = $2 WHERE id = $3")
            .bind(i64::from(auto_assign)).bind(capacity).bind(team_id)
            .execute(pool).await?.rows_affected() == 1))
    }

    async fn count_conversations(&self) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT COUNT(*) FROM conversations")
            .fetch_one(pool).await?))
    }

    async fn team_memberships(&self) -> StoreResult<Vec<(String, String)>> {
        on_pool!(self, pool => Ok(sqlx::query_as("SELECT team_id, user_id FROM team_members")
            .fetch_all(pool).await?))
    }

    async fn remove_team_member(&self, team_id: &str, user_id: &str) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id).bind(user_id).execute(pool).await?.rows_affected() == 1))
    }

    async fn channels(&self) -> StoreResult<Vec<ChannelDetailRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT ch.id, ch.phone_number_id, ch.display_phone_number, ch.name, ch.team_id, \
             (SELECT COUNT(*) FROM conversations v WHERE v.channel_id = ch.id) AS conversations \
             FROM channels ch ORDER BY ch.created_at")
            .fetch_all(pool).await?))
    }

    async fn set_channel(&self, id: &str, name: &str, team_id: Option<&str>) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE channels SET name = $1, team_id = $2 WHERE id = $3")
            .bind(name).bind(team_id).bind(id).execute(pool).await?.rows_affected() == 1))
    }

    async fn delete_label(&self, id: &str) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM conversation_labels WHERE label_id = $1").bind(id).execute(&mut *tx).await?;
            let gone = sqlx::query("DELETE FROM labels WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected() == 1;
            tx.commit().await?;
            Ok(gone)
        })
    }

    async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name).fetch_optional(pool).await?))
    }

    async fn put_setting(&self, name: &str, value: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
            .bind(name).bind(value).bind(now).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn auto_assign_queue(&self, limit: i64) -> StoreResult<Vec<QueuedConversation>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT v.id, t.id AS team_id FROM conversations v \
             JOIN channels ch ON ch.id = v.channel_id \
             JOIN teams t ON t.id = COALESCE(v.team_id, ch.team_id) \
             WHERE v.assignee_id IS NULL AND v.status = 'open' AND t.auto_assign = 1 \
             ORDER BY v.last_activity_at LIMIT $1")
            .bind(limit).fetch_all(pool).await?))
    }

    async fn member_loads(&self, team_id: &str, online_since: i64) -> StoreResult<Vec<MemberLoad>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT u.id AS user_id, u.role, m.last_assigned_at, \
             (SELECT COUNT(*) FROM conversations v WHERE v.assignee_id = u.id AND v.status = 'open') AS open, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.stage = 'full' \
               AND s.last_seen_at >= $2) THEN 1 ELSE 0 END AS BIGINT) AS online \
             FROM team_members m JOIN users u ON u.id = m.user_id \
             WHERE m.team_id = $1 AND u.status = 'active' ORDER BY u.id")
            .bind(team_id).bind(online_since).fetch_all(pool).await?))
    }

    async fn spread_conversations(
        &self,
        offset: i64,
        limit: i64,
        assignee: Option<&str>,
        team: Option<&str>,
        status: &str,
    ) -> StoreResult<u64> {
        on_pool!(self, pool => Ok(sqlx::query(
            "UPDATE conversations SET assignee_id = $1, team_id = $2, status = $3, \
             unread_count = CASE WHEN $3 = 'resolved' THEN 0 ELSE unread_count END \
             WHERE id IN (SELECT id FROM conversations ORDER BY id LIMIT $4 OFFSET $5)")
            .bind(assignee).bind(team).bind(status).bind(limit).bind(offset)
            .execute(pool).await?.rows_affected()))
    }

    async fn claim_assignment(
        &self,
        conversation_id: &str,
        user_id: &str,
        team_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let won = sqlx::query(
                "UPDATE conversations SET assignee_id = $1, team_id = $2 \
                 WHERE id = $3 AND assignee_id IS NULL AND status = 'open'")
                .bind(user_id).bind(team_id).bind(conversation_id)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if won {
                sqlx::query("UPDATE team_members SET last_assigned_at = $1 WHERE team_id = $2 AND user_id = $3")
                    .bind(now).bind(team_id).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(won)
        })
    }
}
