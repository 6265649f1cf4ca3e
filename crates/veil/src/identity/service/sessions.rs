//! Sessions: from a cookie or a bearer token to a `Principal`, signing out (one, the others, a
//! user's all), and the sweep of expired rows.

use veil_crypto::TokenHash;

use super::{AuthError, AuthResult, Identity, MINUTE, PENDING_LIFETIME_MS, TOUCH_EVERY_MS};
use crate::audit::AuditEvent;
use crate::identity::{
    Actor, Client, Permissions, Principal, Role, STAGE_FULL, STATUS_ACTIVE, network,
};
use crate::store::{SessionRow, UserRow};

impl Identity {
    /// Resolves a session cookie: the session and its user, if the session is still valid.
    /// Expired or ended sessions are deleted.
    pub async fn session(
        &self,
        secret: &str,
        client: &Client,
    ) -> AuthResult<(SessionRow, UserRow)> {
        if secret.len() > 128 {
            return Err(AuthError::NoSession);
        }
        let hash = TokenHash::of(secret);
        let session = self
            .store
            .session_by_hash(&hash.0)
            .await?
            .ok_or(AuthError::NoSession)?;
        let user = self
            .store
            .user_by_id(&session.user_id)
            .await?
            .ok_or(AuthError::NoSession)?;
        let now = self.now();
        let auth = self.policy();
        let idle = if session.stage == STAGE_FULL {
            i64::try_from(auth.session_idle_minutes).unwrap_or(30) * MINUTE
        } else {
            PENDING_LIFETIME_MS
        };
        let absolute = i64::try_from(auth.session_absolute_hours).unwrap_or(12) * 60 * MINUTE;
        let valid = user.status == STATUS_ACTIVE
            && session.epoch == user.session_epoch
            && now - session.last_seen_at <= idle
            && now - session.created_at <= absolute;
        if !valid {
            self.store.delete_session(&user.id, &session.id).await?;
            return Err(AuthError::NoSession);
        }
        let role = Role::parse(&user.role).ok_or(AuthError::NoSession)?;
        if !network::allowed(&auth.ip_allowlist, role.as_str(), client.ip) {
            return Err(AuthError::NetworkDenied);
        }
        if now - session.last_seen_at >= TOUCH_EVERY_MS {
            self.store.touch_session(&session.id, now).await?;
        }
        Ok((session, user))
    }

    /// A full principal from a session cookie (both factors done).
    pub async fn principal_for_session(
        &self,
        secret: &str,
        client: &Client,
    ) -> AuthResult<Principal> {
        let (session, user) = self.session(secret, client).await?;
        Self::principal(session, user, client)
    }

    /// The principal of a resolved session, once both factors are done.
    pub fn principal(session: SessionRow, user: UserRow, client: &Client) -> AuthResult<Principal> {
        if session.stage != STAGE_FULL {
            return Err(AuthError::SecondFactorPending);
        }
        let role = Role::parse(&user.role).ok_or(AuthError::NoSession)?;
        Ok(Principal {
            permissions: role.permissions(),
            actor: Actor::User {
                user: Box::new(user),
                role,
                session: Box::new(session),
            },
            client: client.clone(),
        })
    }

    /// A principal from an API token.
    pub async fn principal_for_token(
        &self,
        presented: &str,
        client: &Client,
    ) -> AuthResult<Principal> {
        if presented.len() > 256 {
            return Err(AuthError::NoSession);
        }
        let token = self
            .store
            .api_token_by_hash(&TokenHash::of(presented).0)
            .await?
            .ok_or(AuthError::NoSession)?;
        let now = self.now();
        if token.expires_at.is_some_and(|at| now >= at) {
            return Err(AuthError::NoSession);
        }
        if !network::allowed(&self.policy().ip_allowlist, "token", client.ip) {
            return Err(AuthError::NetworkDenied);
        }
        if token
            .last_used_at
            .is_none_or(|at| now - at >= TOUCH_EVERY_MS)
        {
            self.store.touch_api_token(&token.id, now).await?;
        }
        let permissions = Permissions::parse_names(&token.scopes).unwrap_or_default();
        Ok(Principal {
            permissions,
            actor: Actor::Token(Box::new(token)),
            client: client.clone(),
        })
    }

    pub async fn logout(&self, session: &SessionRow) -> AuthResult<()> {
        let who = format!("user:{}", session.user_id);
        let mut event =
            AuditEvent::system(&who, "session.logout", format!("session:{}", session.id));
        event.ip.clone_from(&session.ip);
        self.audit.record(event).await?;
        self.store
            .delete_session(&session.user_id, &session.id)
            .await?;
        Ok(())
    }

    /// Ends the caller's other sessions; returns how many.
    pub async fn logout_others(&self, principal: &Principal) -> AuthResult<u64> {
        let session = principal.session().ok_or(AuthError::Forbidden)?;
        self.record(
            principal,
            "session.revoke_others",
            &format!("user:{}", session.user_id),
        )
        .await?;
        Ok(self
            .store
            .delete_sessions_of(&session.user_id, Some(&session.id))
            .await?)
    }

    /// Ends one of the caller's own sessions.
    pub async fn end_own_session(&self, principal: &Principal, id: &str) -> AuthResult<()> {
        let user = principal.user().ok_or(AuthError::Forbidden)?;
        self.record(principal, "session.revoke", &format!("session:{id}"))
            .await?;
        if self.store.delete_session(&user.id, id).await? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Ends every session of a user (admin "log out this user"), recorded.
    pub async fn logout_user(&self, by: Option<&Principal>, user_id: &str) -> AuthResult<u64> {
        self.managed_user(by, user_id).await?;
        self.record_first(by, "user.logout", &format!("user:{user_id}"))
            .await?;
        Ok(self.store.delete_sessions_of(user_id, None).await?)
    }

    /// A user's sessions (where from, which browser), for those who may manage the user; the
    /// read is recorded before it is returned.
    pub async fn sessions_of_user(
        &self,
        by: &Principal,
        user_id: &str,
    ) -> AuthResult<Vec<SessionRow>> {
        self.managed_user(Some(by), user_id).await?;
        let sessions = self.store.sessions_of(user_id).await?;
        self.record(by, "user.sessions", &format!("user:{user_id}"))
            .await?;
        Ok(sessions)
    }

    /// Housekeeping: deletes throttle counters that protect nothing any more (e-mails of no
    /// account and client addresses, a day after their last failure; counters of real accounts
    /// stay until a success or an unlock) and sessions past their idle or absolute lifetime.
    /// Returns (counters, sessions) deleted.
    pub async fn sweep(&self) -> AuthResult<(u64, u64)> {
        const DAY_MS: i64 = 86_400_000;
        let now = self.now();
        let accounts: Vec<String> = self
            .store
            .list_users()
            .await?
            .iter()
            .map(|u| self.account_key(&u.email))
            .collect();
        let mut counters = self
            .store
            .throttle_sweep("acct:", now - DAY_MS, &accounts)
            .await?;
        counters += self.store.throttle_sweep("ip:", now - DAY_MS, &[]).await?;
        let policy = self.policy();
        let idle = i64::try_from(policy.session_idle_minutes).unwrap_or(30) * MINUTE;
        let absolute = i64::try_from(policy.session_absolute_hours).unwrap_or(12) * 60 * MINUTE;
        let sessions = self
            .store
            .delete_expired_sessions(now - idle, now - absolute)
            .await?;
        Ok((counters, sessions))
    }
}
