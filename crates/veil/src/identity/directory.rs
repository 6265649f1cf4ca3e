//! Reads of the people and things identity manages (users, teams, tokens, sessions, the access
//! record), for pages, the API and the command line. The callers check permissions and record
//! the read; this is the only way past identity to these rows.

use super::{AuthError, AuthResult, Identity, Principal};
use crate::store::{
    AccessRow, ApiTokenRow, MemberLoad, SessionRow, StoreResult, TeamDetailRow, TeamRow, UserRow,
};

impl Identity {
    pub async fn list_users(&self) -> StoreResult<Vec<UserRow>> {
        self.store().list_users().await
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        self.store().user_by_id(id).await
    }

    /// The user with this e-mail address (normalised first).
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        self.store()
            .user_by_email(&super::normalise_email(email))
            .await
    }

    pub async fn count_users(&self) -> StoreResult<i64> {
        self.store().count_users().await
    }

    pub async fn list_teams(&self) -> StoreResult<Vec<TeamRow>> {
        self.store().list_teams().await
    }

    /// (team id, user id) pairs.
    pub async fn team_memberships(&self) -> StoreResult<Vec<(String, String)>> {
        self.store().team_memberships().await
    }

    pub async fn team_details(&self) -> StoreResult<Vec<TeamDetailRow>> {
        self.store().team_details().await
    }

    /// Open conversations and presence of each member of a team.
    pub async fn member_loads(
        &self,
        team_id: &str,
        online_since: i64,
    ) -> StoreResult<Vec<MemberLoad>> {
        self.store().member_loads(team_id, online_since).await
    }

    pub async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>> {
        self.store().list_api_tokens().await
    }

    pub async fn sessions_of(&self, user_id: &str) -> StoreResult<Vec<SessionRow>> {
        self.store().sessions_of(user_id).await
    }

    pub async fn recovery_codes_left(&self, user_id: &str) -> StoreResult<i64> {
        self.store().recovery_codes_left(user_id).await
    }

    /// The newest entries of the access record.
    pub async fn access_log(&self, limit: i64) -> StoreResult<Vec<AccessRow>> {
        self.store().access_log(limit).await
    }

    /// Sets the signed-in user's interface language; recorded first.
    pub async fn set_language(&self, principal: &Principal, language: &str) -> AuthResult<()> {
        let user = principal.user().ok_or(AuthError::Forbidden)?;
        self.record(principal, "user.language", &format!("user:{}", user.id))
            .await?;
        self.store().set_user_language(&user.id, language).await?;
        Ok(())
    }
}
