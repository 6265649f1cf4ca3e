//! The work agents do on conversations, free of HTTP and SQL: assign and transfer, resolve and
//! reopen, labels, internal notes (sealed with the contact's key), canned replies with
//! placeholders. Every change is checked against the caller's scope, recorded where it concerns
//! access, and signalled to open inboxes.

use std::sync::Arc;

use veil_crypto::Aad;

use crate::clock::Clock;
use crate::identity::{Identity, Permission, Principal, STATUS_ACTIVE};
use crate::inbox::live::{Live, LiveKind};
use crate::keys::{KeyError, Keys};
use crate::store::{
    CannedReplyRow, ConversationScope, LabelRow, NoteRow, Store, StoreError, StoreResult,
};

/// Conversation states an agent can set.
pub const STATUSES: [&str; 3] = ["open", "pending", "resolved"];

/// Longest note, canned reply or label an agent may write.
const MAX_TEXT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("invalid: {0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Auth(#[from] crate::identity::AuthError),
}

/// A note as staff see it.
#[derive(Debug, Clone)]
pub struct NoteView {
    pub id: String,
    pub author_name: String,
    pub created_at: i64,
    /// `None` when the contact's key was shredded.
    pub body: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desk {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    pub live: Live,
    pub identity: Identity,
}

impl Desk {
    /// `Invalid` when a team is named that does not exist.
    async fn team_exists(&self, team: Option<&str>) -> Result<(), DeskError> {
        match team {
            Some(team) if !self.store.list_teams().await?.iter().any(|t| t.id == team) => {
                Err(DeskError::Invalid("no such team"))
            }
            _ => Ok(()),
        }
    }
}

fn scope_of(principal: &Principal) -> Result<ConversationScope, DeskError> {
    principal.conversation_scope().ok_or(DeskError::Forbidden)
}

fn clean(text: &str, max: usize) -> Result<String, DeskError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DeskError::Invalid("empty"));
    }
    if text.chars().count() > max {
        return Err(DeskError::Invalid("too long"));
    }
    Ok(text.to_owned())
}

impl Desk {
    /// Records `action` on conversation `id` before it is done.
    async fn record_on(
        &self,
        principal: &Principal,
        action: &str,
        id: &str,
    ) -> Result<(), DeskError> {
        self.identity
            .record(principal, action, &format!("conversation:{id}"))
            .await?;
        Ok(())
    }

    /// The conversation's contact id, if the caller's scope covers it.
    async fn contact_of(&self, principal: &Principal, id: &str) -> Result<String, DeskError> {
        let scope = scope_of(principal)?;
        Ok(self
            .store
            .conversation(id, &scope)
            .await?
            .ok_or(DeskError::NotFound)?
            .contact_id)
    }

    /// Assigns or transfers a conversation to a user, a team, both or neither.
    pub async fn assign(
        &self,
        principal: &Principal,
        id: &str,
        assignee: Option<&str>,
        team: Option<&str>,
    ) -> Result<(), DeskError> {
        self.contact_of(principal, id).await?;
        if let Some(user) = assignee {
            let user = self
                .store
                .user_by_id(user)
                .await?
                .ok_or(DeskError::Invalid("no such user"))?;
            if user.status != STATUS_ACTIVE {
                return Err(DeskError::Invalid("the user is disabled"));
            }
        }
        self.team_exists(team).await?;
        self.record_on(principal, "conversation.assign", id).await?;
        self.store.assign_conversation(id, assignee, team).await?;
        self.live.publish(LiveKind::Conversation, Some(id));
        Ok(())
    }

    /// Open, pending or resolved.
    pub async fn set_status(
        &self,
        principal: &Principal,
        id: &str,
        status: &str,
    ) -> Result<(), DeskError> {
        if !STATUSES.contains(&status) {
            return Err(DeskError::Invalid("unknown status"));
        }
        self.contact_of(principal, id).await?;
        self.record_on(principal, &format!("conversation.{status}"), id)
            .await?;
        self.store.set_conversation_status(id, status).await?;
        self.live.publish(LiveKind::Conversation, Some(id));
        Ok(())
    }

    /// Puts exactly the labels `on` on a conversation (unknown ids are refused), all others off.
    pub async fn set_labels(
        &self,
        principal: &Principal,
        id: &str,
        on: &[String],
    ) -> Result<(), DeskError> {
        self.contact_of(principal, id).await?;
        let labels = self.store.labels().await?;
        if on
            .iter()
            .any(|l| !labels.iter().any(|known| &known.id == l))
        {
            return Err(DeskError::Invalid("no such label"));
        }
        self.record_on(principal, "conversation.labels", id).await?;
        for label in &labels {
            self.store
                .set_label(id, &label.id, on.contains(&label.id))
                .await?;
        }
        self.live.publish(LiveKind::Conversation, Some(id));
        Ok(())
    }

    /// Creates a label (names are unique: an existing one is reused) and puts it on a
    /// conversation.
    pub async fn add_label(
        &self,
        principal: &Principal,
        id: &str,
        name: &str,
    ) -> Result<(), DeskError> {
        let name = clean(name, 64)?;
        self.contact_of(principal, id).await?;
        self.record_on(principal, "conversation.labels", id).await?;
        let label = self.create_label(&name).await?;
        self.store.set_label(id, &label.id, true).await?;
        self.live.publish(LiveKind::Conversation, Some(id));
        Ok(())
    }

    /// Creates a label; a label of that name that exists already is returned as it is.
    pub async fn create_label(&self, name: &str) -> Result<LabelRow, DeskError> {
        let name = clean(name, 64)?;
        let row = LabelRow {
            id: uuid::Uuid::now_v7().to_string(),
            name,
        };
        if self.store.insert_label(&row, self.clock.now_ms()).await? {
            return Ok(row);
        }
        self.store
            .labels()
            .await?
            .into_iter()
            .find(|l| l.name == row.name)
            .ok_or(DeskError::NotFound)
    }

    /// An internal note, sealed with the contact's data key; customers never see it.
    pub async fn add_note(
        &self,
        principal: &Principal,
        id: &str,
        body: &str,
    ) -> Result<(), DeskError> {
        let body = clean(body, MAX_TEXT)?;
        let contact = self.contact_of(principal, id).await?;
        let author = principal.user().ok_or(DeskError::Forbidden)?;
        let key = self.keys.contact_key(self.store.as_ref(), &contact).await?;
        let note_id = uuid::Uuid::now_v7().to_string();
        let body_ct = key
            .seal(&Aad::field("notes", "body", &note_id), body.as_bytes())
            .map_err(KeyError::from)?;
        self.record_on(principal, "note.create", id).await?;
        self.store
            .insert_note(&NoteRow {
                id: note_id,
                conversation_id: id.to_owned(),
                author_id: author.id.clone(),
                author_name: author.display_name.clone(),
                body_ct,
                created_at: self.clock.now_ms(),
            })
            .await?;
        self.live.publish(LiveKind::Conversation, Some(id));
        Ok(())
    }

    /// The notes of a conversation, oldest first.
    pub async fn notes(&self, principal: &Principal, id: &str) -> Result<Vec<NoteView>, DeskError> {
        let contact = self.contact_of(principal, id).await?;
        let key = self
            .keys
            .contact_key(self.store.as_ref(), &contact)
            .await
            .ok();
        let rows = self.store.notes_of(id).await?;
        Ok(rows
            .into_iter()
            .map(|n| NoteView {
                body: key.as_ref().and_then(|k| {
                    k.open_string(&Aad::field("notes", "body", &n.id), &n.body_ct)
                        .ok()
                        .map(|s| s.to_string())
                }),
                id: n.id,
                author_name: n.author_name,
                created_at: n.created_at,
            })
            .collect())
    }

    pub async fn create_canned_reply(&self, shortcut: &str, body: &str) -> Result<(), DeskError> {
        let shortcut = clean(shortcut, 32)?;
        if !shortcut
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err(DeskError::Invalid("shortcut: letters, digits, - and _"));
        }
        let row = CannedReplyRow {
            id: uuid::Uuid::now_v7().to_string(),
            shortcut,
            body: clean(body, MAX_TEXT)?,
        };
        if !self
            .store
            .insert_canned_reply(&row, self.clock.now_ms())
            .await?
        {
            return Err(DeskError::Invalid(
                "a canned reply with this shortcut exists",
            ));
        }
        Ok(())
    }

    /// Administration of the inbox's shared words: canned replies and labels (`inbox.manage`).
    fn may_manage(principal: &Principal, permission: Permission) -> Result<(), DeskError> {
        if principal.can(permission) {
            Ok(())
        } else {
            Err(DeskError::Forbidden)
        }
    }

    /// A canned reply added on the admin pages.
    pub async fn add_canned_reply(
        &self,
        principal: &Principal,
        shortcut: &str,
        body: &str,
    ) -> Result<(), DeskError> {
        Self::may_manage(principal, Permission::InboxManage)?;
        self.identity
            .record(principal, "canned_reply.create", "canned_replies")
            .await?;
        self.create_canned_reply(shortcut, body).await?;
        Ok(())
    }

    pub async fn delete_canned_reply(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(), DeskError> {
        Self::may_manage(principal, Permission::InboxManage)?;
        self.identity
            .record(
                principal,
                "canned_reply.delete",
                &format!("canned_reply:{id}"),
            )
            .await?;
        if !self.store.delete_canned_reply(id).await? {
            return Err(DeskError::NotFound);
        }
        Ok(())
    }

    /// A label added on the admin pages.
    pub async fn add_label_definition(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<(), DeskError> {
        Self::may_manage(principal, Permission::InboxManage)?;
        self.identity
            .record(principal, "label.create", "labels")
            .await?;
        self.create_label(name).await?;
        Ok(())
    }

    /// Deletes a label and takes it off every conversation.
    pub async fn delete_label(&self, principal: &Principal, id: &str) -> Result<(), DeskError> {
        Self::may_manage(principal, Permission::InboxManage)?;
        self.identity
            .record(principal, "label.delete", &format!("label:{id}"))
            .await?;
        if !self.store.delete_label(id).await? {
            return Err(DeskError::NotFound);
        }
        self.live.publish(LiveKind::Conversation, None);
        Ok(())
    }

    /// Names a channel (business number) and routes its conversations to a team, whose
    /// auto-assignment then applies to them (`policy.manage`).
    pub async fn set_channel(
        &self,
        principal: &Principal,
        id: &str,
        name: &str,
        team: Option<&str>,
    ) -> Result<(), DeskError> {
        Self::may_manage(principal, Permission::PolicyManage)?;
        let name = name.trim();
        if name.chars().count() > 100 {
            return Err(DeskError::Invalid("a name of at most 100 characters"));
        }
        self.team_exists(team).await?;
        self.identity
            .record(principal, "channel.update", &format!("channel:{id}"))
            .await?;
        if !self.store.set_channel(id, name, team).await? {
            return Err(DeskError::NotFound);
        }
        Ok(())
    }
}

/// Fills a canned reply's placeholders: `{name}` (the customer's name, or nothing) and `{agent}`
/// (the sender's display name). Unknown placeholders stay as written.
pub fn expand_canned(body: &str, customer_name: Option<&str>, agent_name: &str) -> String {
    body.replace("{name}", customer_name.unwrap_or(""))
        .replace("{agent}", agent_name)
}

impl Desk {
    pub async fn labels(&self) -> StoreResult<Vec<LabelRow>> {
        self.store.labels().await
    }

    pub async fn labels_of(&self, conversation_id: &str) -> StoreResult<Vec<LabelRow>> {
        self.store.labels_of(conversation_id).await
    }

    pub async fn canned_replies(&self) -> StoreResult<Vec<crate::store::CannedReplyRow>> {
        self.store.canned_replies().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_placeholders_are_filled() {
        assert_eq!(
            expand_canned("Hi {name}, {agent} here. {other}", Some("Ana"), "Bo"),
            "Hi Ana, Bo here. {other}"
        );
        assert_eq!(expand_canned("Hi {name}!", None, "Bo"), "Hi !");
    }

    #[test]
    fn agent_text_is_trimmed_and_bounded() {
        assert!(clean("   ", 10).is_err());
        assert!(clean(&"x".repeat(11), 10).is_err());
        assert_eq!(clean(" ok ", 10).ok().as_deref(), Some("ok"));
    }
}
