//! Teams: who works together, which conversations they see, and how new ones are shared out.
//! Every change needs `user.manage` and is written to the access record.

use super::{AuthError, AuthResult, Identity, Permission, Principal};
use crate::store::TeamRow;

/// Largest capacity a team may set (open conversations per member).
pub const MAX_CAPACITY: i64 = 1_000;

impl Identity {
    fn may_manage_teams(by: &Principal) -> AuthResult<()> {
        if by.can(Permission::UserManage) {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }

    async fn team_exists(&self, team_id: &str) -> AuthResult<()> {
        if self
            .store()
            .list_teams()
            .await?
            .iter()
            .any(|t| t.id == team_id)
        {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Creates a team; names are unique.
    pub async fn create_team(&self, by: &Principal, name: &str) -> AuthResult<TeamRow> {
        Self::may_manage_teams(by)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "a name of 1 to 100 characters is needed".into(),
            ));
        }
        let team = TeamRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            created_at: self.now(),
        };
        self.record(by, "team.create", &format!("team:{}", team.id))
            .await?;
        if !self.store().insert_team(&team).await? {
            return Err(AuthError::Invalid("a team with this name exists".into()));
        }
        Ok(team)
    }

    /// Adds a user to a team (they then see the team's conversations).
    pub async fn add_team_member(
        &self,
        by: &Principal,
        team_id: &str,
        user_id: &str,
    ) -> AuthResult<()> {
        Self::may_manage_teams(by)?;
        self.team_exists(team_id).await?;
        self.store()
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        self.record(by, "team.add_member", &format!("team:{team_id}"))
            .await?;
        Ok(self.store().add_team_member(team_id, user_id).await?)
    }

    /// Removes a user from a team.
    pub async fn remove_team_member(
        &self,
        by: &Principal,
        team_id: &str,
        user_id: &str,
    ) -> AuthResult<()> {
        Self::may_manage_teams(by)?;
        self.record(by, "team.remove_member", &format!("team:{team_id}"))
            .await?;
        if !self.store().remove_team_member(team_id, user_id).await? {
            return Err(AuthError::NotFound);
        }
        Ok(())
    }

    /// Turns auto-assignment on or off and sets the capacity per member.
    pub async fn set_team_routing(
        &self,
        by: &Principal,
        team_id: &str,
        auto_assign: bool,
        capacity: i64,
    ) -> AuthResult<()> {
        Self::may_manage_teams(by)?;
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(AuthError::Invalid(format!(
                "capacity must be 1 to {MAX_CAPACITY}"
            )));
        }
        self.record(by, "team.routing", &format!("team:{team_id}"))
            .await?;
        if !self
            .store()
            .set_team_routing(team_id, auto_assign, capacity)
            .await?
        {
            return Err(AuthError::NotFound);
        }
        Ok(())
    }
}
