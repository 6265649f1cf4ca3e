//! `IdentityStore` for `SqlStore`: portable statements, run on either pool by `on_pool!`.

use async_trait::async_trait;

use super::pool::{BeginWrite, Pool, on_pool};
use super::{
    AccessRow, ApiTokenRow, IdentityStore, SessionRow, SqlStore, StoreResult, TeamRow, UserChange,
    UserRow,
};

const USER_COLUMNS: &str = "id, email, display_name, role, status, language, password_hash, totp_secret_ct, \
     totp_pending_ct, totp_last_step, session_epoch, created_at, updated_at";
const SESSION_COLUMNS: &str =
    "id, user_id, stage, epoch, created_at, last_seen_at, authenticated_at, ip, user_agent";
const TOKEN_COLUMNS: &str =
    "id, name, scopes, created_at, expires_at, revoked_at, created_by, last_used_at";

/// Deletes a user's recovery codes and inserts `hashes`, inside the transaction `tx` (a macro,
/// so that the body compiles for each driver as `on_pool!` bodies do).
macro_rules! replace_codes {
    ($tx:expr, $user_id:expr, $hashes:expr) => {{
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
            .await?;
        for hash in $hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind($user_id)
                .bind(hash)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn count_users(&self) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await?))
    }

    async fn insert_user(&self, u: &UserRow) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "INSERT INTO users (id, email, display_name, role, status, language, password_hash, session_epoch, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (email) DO NOTHING")
            .bind(&u.id).bind(&u.email).bind(&u.display_name).bind(&u.role).bind(&u.status).bind(&u.language)
            .bind(&u.password_hash).bind(u.session_epoch).bind(u.created_at).bind(u.updated_at)
            .execute(pool).await?.rows_affected() == 1))
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
            .bind(id).fetch_optional(pool).await?))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")))
            .bind(email).fetch_optional(pool).await?))
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!("SELECT {USER_COLUMNS} FROM users ORDER BY email")))
            .fetch_all(pool).await?))
    }

    async fn change_user(&self, id: &str, change: &UserChange, now: i64) -> StoreResult<bool> {
        let (statement, value): (&'static str, Option<&str>) = match change {
            UserChange::Role(role) => (
                "UPDATE users SET role = $3, session_epoch = session_epoch + 1, updated_at = $1 WHERE id = $2",
                Some(role),
            ),
            UserChange::Status(status) => (
                "UPDATE users SET status = $3, session_epoch = session_epoch + 1, updated_at = $1 WHERE id = $2",
                Some(status),
            ),
            UserChange::Password(hash) => (
                "UPDATE users SET password_hash = $3, session_epoch = session_epoch + 1, updated_at = $1 WHERE id = $2",
                Some(hash),
            ),
            UserChange::ResetSecondFactor => (
                "UPDATE users SET totp_secret_ct = NULL, totp_pending_ct = NULL, totp_last_step = NULL, \
                 session_epoch = session_epoch + 1, updated_at = $1 WHERE id = $2",
                None,
            ),
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut query = sqlx::query(statement).bind(now).bind(id);
            if let Some(value) = value {
                query = query.bind(value);
            }
            let changed = query.execute(&mut *tx).await?.rows_affected() == 1;
            if matches!(change, UserChange::ResetSecondFactor) {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(changed)
        })
    }

    async fn set_totp_pending(&self, user_id: &str, sealed: &[u8], now: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET totp_pending_ct = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed).bind(now).bind(user_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn confirm_totp(
        &self,
        user_id: &str,
        sealed: &[u8],
        step: i64,
        recovery_hashes: &[Vec<u8>],
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET totp_secret_ct = $1, totp_pending_ct = NULL, totp_last_step = $2, updated_at = $3 WHERE id = $4")
                .bind(sealed).bind(step).bind(now).bind(user_id).execute(&mut *tx).await?;
            replace_codes!(tx, user_id, recovery_hashes);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn replace_recovery_codes(&self, user_id: &str, hashes: &[Vec<u8>]) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            replace_codes!(tx, user_id, hashes);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)")
            .bind(step).bind(user_id).execute(pool).await?.rows_affected() == 1))
    }

    async fn use_recovery_code(&self, user_id: &str, hash: &[u8], now: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now).bind(user_id).bind(hash).execute(pool).await?.rows_affected() == 1))
    }

    async fn recovery_codes_left(&self, user_id: &str) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id).fetch_one(pool).await?))
    }

    async fn throttle_counters(&self, keys: &[String]) -> StoreResult<Vec<(String, i64, i64)>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let row: Option<(String, i64, i64)> = on_pool!(self, pool => sqlx::query_as(
                "SELECT key, failures, last_failure_at FROM login_throttle WHERE key = $1")
                .bind(key).fetch_optional(pool).await?);
            out.extend(row);
        }
        Ok(out)
    }

    async fn throttle_reserve(
        &self,
        key: &str,
        seen: Option<(i64, i64)>,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(match seen {
            None => sqlx::query(
                "INSERT INTO login_throttle (key, failures, last_failure_at, refused) VALUES ($1, 1, $2, 0) \
                 ON CONFLICT (key) DO NOTHING")
                .bind(key).bind(now).execute(pool).await?.rows_affected() == 1,
            Some((failures, last)) => sqlx::query(
                "UPDATE login_throttle SET failures = failures + 1, last_failure_at = $1, refused = 0 \
                 WHERE key = $2 AND failures = $3 AND last_failure_at = $4")
                .bind(now).bind(key).bind(failures).bind(last).execute(pool).await?.rows_affected() == 1,
        }))
    }

    async fn throttle_refund(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
            .bind(key).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn throttle_refused(&self, key: &str) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar::<_, i64>(
            "UPDATE login_throttle SET refused = refused + 1 WHERE key = $1 RETURNING refused")
            .bind(key).fetch_optional(pool).await?.unwrap_or(1)))
    }

    async fn throttle_sweep(&self, prefix: &str, before: i64, keep: &[String]) -> StoreResult<u64> {
        // Candidates first (few: the sweep runs every minute), then each checked against `keep`.
        let old: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT key FROM login_throttle WHERE last_failure_at < $1 AND key LIKE $2 LIMIT 10000")
            .bind(before).bind(format!("{}%", prefix.replace(['%', '_'], ""))).fetch_all(pool).await?);
        let gone: Vec<String> = old.into_iter().filter(|k| !keep.contains(k)).collect();
        let mut deleted = 0;
        for key in &gone {
            deleted += on_pool!(self, pool => sqlx::query(
                "DELETE FROM login_throttle WHERE key = $1 AND last_failure_at < $2")
                .bind(key).bind(before).execute(pool).await?.rows_affected());
        }
        Ok(deleted)
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> StoreResult<u64> {
        on_pool!(self, pool => Ok(sqlx::query(
            "DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(idle_before).bind(created_before).execute(pool).await?.rows_affected()))
    }

    async fn throttle_clear(&self, keys: &[String]) -> StoreResult<()> {
        for key in keys {
            on_pool!(self, pool => sqlx::query("DELETE FROM login_throttle WHERE key = $1")
                .bind(key).execute(pool).await?.rows_affected());
        }
        Ok(())
    }

    async fn insert_session(&self, s: &SessionRow, id_hash: &[u8]) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(sql(format!(
            "INSERT INTO sessions (id_hash, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")))
            .bind(id_hash).bind(&s.id).bind(&s.user_id).bind(&s.stage).bind(s.epoch).bind(s.created_at)
            .bind(s.last_seen_at).bind(s.authenticated_at).bind(&s.ip).bind(&s.user_agent)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn rotate_session(
        &self,
        old_id: &str,
        s: &SessionRow,
        id_hash: &[u8],
    ) -> StoreResult<()> {
        let insert = sql(format!(
            "INSERT INTO sessions (id_hash, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ));
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(old_id).execute(&mut *tx).await?;
            sqlx::query(insert)
                .bind(id_hash).bind(&s.id).bind(&s.user_id).bind(&s.stage).bind(s.epoch).bind(s.created_at)
                .bind(s.last_seen_at).bind(s.authenticated_at).bind(&s.ip).bind(&s.user_agent)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn session_by_hash(&self, id_hash: &[u8]) -> StoreResult<Option<SessionRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1")))
            .bind(id_hash).fetch_optional(pool).await?))
    }

    async fn touch_session(&self, id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id).bind(user_id).execute(pool).await?.rows_affected() == 1))
    }

    async fn delete_sessions_of(&self, user_id: &str, keep: Option<&str>) -> StoreResult<u64> {
        on_pool!(self, pool => Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id).bind(keep.unwrap_or("")).execute(pool).await?.rows_affected()))
    }

    async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<SessionRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY last_seen_at DESC")))
            .bind(user_id).fetch_all(pool).await?))
    }

    async fn insert_setup_token(
        &self,
        hash: &[u8],
        user_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("INSERT INTO setup_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(hash).bind(user_id).bind(expires_at).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn setup_token_user(&self, hash: &[u8], now: i64) -> StoreResult<Option<String>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar(
            "SELECT user_id FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(hash).bind(now).fetch_optional(pool).await?))
    }

    async fn complete_setup(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let user: Option<String> = sqlx::query_scalar(
                "UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id")
                .bind(now).bind(hash).fetch_optional(&mut *tx).await?;
            if let Some(user) = &user {
                sqlx::query("UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1, updated_at = $2 WHERE id = $3")
                    .bind(password_hash).bind(now).bind(user).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(user)
        })
    }

    async fn insert_team(&self, t: &TeamRow) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(&t.id).bind(&t.name).bind(t.created_at).execute(pool).await?.rows_affected() == 1))
    }

    async fn list_teams(&self) -> StoreResult<Vec<TeamRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as("SELECT id, name, created_at FROM teams ORDER BY name")
            .fetch_all(pool).await?))
    }

    async fn add_team_member(&self, team_id: &str, user_id: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(team_id).bind(user_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn assign_conversation(
        &self,
        id: &str,
        assignee: Option<&str>,
        team: Option<&str>,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE conversations SET assignee_id = $1, team_id = $2 WHERE id = $3")
            .bind(assignee).bind(team).bind(id).execute(pool).await?.rows_affected() == 1))
    }

    async fn conversation_of_message(&self, message_id: &str) -> StoreResult<Option<String>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT conversation_id FROM messages WHERE id = $1")
            .bind(message_id).fetch_optional(pool).await?))
    }

    async fn insert_api_token(&self, t: &ApiTokenRow, hash: &[u8]) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, scopes, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&t.id).bind(&t.name).bind(hash).bind(&t.scopes).bind(t.created_at).bind(t.expires_at).bind(&t.created_by)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn api_token_by_hash(&self, hash: &[u8]) -> StoreResult<Option<ApiTokenRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")))
            .bind(hash).fetch_optional(pool).await?))
    }

    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sql(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at")))
            .fetch_all(pool).await?))
    }

    async fn touch_api_token(&self, id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn revoke_api_token(&self, id: &str, now: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now).bind(id).execute(pool).await?.rows_affected() == 1))
    }

    async fn access_log(&self, limit: i64) -> StoreResult<Vec<AccessRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as("SELECT CAST(seq AS TEXT) AS id, at, actor, action, target, ip FROM audit_log ORDER BY seq DESC LIMIT $1")
            .bind(limit).fetch_all(pool).await?))
    }
}
