//! API tokens: creating (scoped to what the creator holds), revoking, and revoking those beyond
//! what a user may now hold.

use super::{AuthError, AuthResult, Identity};
use crate::audit::AuditEvent;
use crate::identity::{OpaqueSecret, Permissions, Principal, Role, STATUS_ACTIVE};
use crate::store::{ApiTokenRow, UserRow};

impl Identity {
    /// Revokes the tokens `user` created (and the tokens those created) whose scopes exceed what
    /// the user may do now (a disabled user: every one). Each revocation is recorded.
    pub(super) async fn revoke_tokens_beyond(&self, user: &UserRow) -> AuthResult<()> {
        let allowed = if user.status == STATUS_ACTIVE {
            Role::parse(&user.role).map_or(Permissions::default(), Role::permissions)
        } else {
            Permissions::default()
        };
        let tokens = self.store.list_api_tokens().await?;
        let mut creators = vec![format!("user:{}", user.id)];
        let mut revoked = Vec::new();
        while let Some(creator) = creators.pop() {
            for t in &tokens {
                let scopes = Permissions::parse_names(&t.scopes).unwrap_or_default();
                if t.revoked_at.is_none()
                    && t.created_by.as_deref() == Some(creator.as_str())
                    && !revoked.contains(&t.id)
                    && !scopes.is_subset_of(allowed)
                {
                    revoked.push(t.id.clone());
                    creators.push(format!("token:{}", t.id));
                }
            }
        }
        for id in revoked {
            self.audit
                .record(
                    AuditEvent::system("system", "token.revoke", format!("token:{id}"))
                        .reason(&format!("creator user:{} lost the permissions", user.id)),
                )
                .await?;
            self.store.revoke_api_token(&id, self.now()).await?;
        }
        Ok(())
    }

    /// Revokes an API token, recorded first; `false` when there is no such active token.
    pub async fn revoke_token(&self, by: Option<&Principal>, id: &str) -> AuthResult<bool> {
        self.record_first(by, "token.revoke", &format!("token:{id}"))
            .await?;
        Ok(self.store.revoke_api_token(id, self.now()).await?)
    }

    /// Creates an API token with `scopes`, which must be within the creator's own permissions.
    pub async fn create_token(
        &self,
        by: Option<&Principal>,
        name: &str,
        scopes: Permissions,
        expires_at: Option<i64>,
    ) -> AuthResult<(ApiTokenRow, OpaqueSecret)> {
        if let Some(by) = by
            && !scopes.is_subset_of(by.permissions)
        {
            return Err(AuthError::Forbidden);
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "a name of 1 to 100 characters is needed".into(),
            ));
        }
        if scopes == Permissions::default() {
            return Err(AuthError::Invalid(
                "a token needs at least one scope".into(),
            ));
        }
        let now = self.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::Invalid("expiry must be in the future".into()));
        }
        let secret = OpaqueSecret::generate().map_err(|_| AuthError::Internal("randomness"))?;
        let id = uuid::Uuid::now_v7().to_string();
        self.record_first(by, "token.create", &format!("token:{id}"))
            .await?;
        let row = ApiTokenRow {
            id,
            name: name.to_owned(),
            scopes: scopes.to_names(),
            created_at: now,
            expires_at,
            revoked_at: None,
            created_by: by.map(Principal::label),
            last_used_at: None,
        };
        self.store.insert_api_token(&row, &secret.hash().0).await?;
        Ok((row, secret))
    }
}
