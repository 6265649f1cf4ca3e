//! The inbox read side: conversations and messages, opened with the contact's data key for an
//! authorised caller. Phone numbers leave this module masked. A contact whose key was shredded
//! shows as erased: its ciphertext can no longer be opened by anyone.

pub mod assignment;
pub mod content;
pub mod desk;
pub mod live;
pub mod screen;
/// Rows of the store this part of the domain hands to its callers.
pub use crate::store::{CannedReplyRow, ConversationScope, InboxFilter, LabelRow, UNREAD_CAP};

use std::sync::Arc;

use veil_crypto::{Aad, DataKey};

use crate::clock::Clock;
use crate::keys::{KeyError, Keys};
use crate::media::{MediaFiles, MediaStoreError};
use crate::store::{ConversationRow, MessageRow, SealedKeyRow, Store, StoreError};
use crate::whatsapp::window::{Window, window};
pub use content::Content;

/// Inbox read failures.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("not found")]
    NotFound,
    #[error("media is not available ({0})")]
    MediaUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Media(#[from] MediaStoreError),
}

/// How many of a view's newest conversations a search looks through.
pub const SEARCH_DEPTH: i64 = 2000;

/// One conversation as an agent sees it in the list.
#[derive(Debug, Clone)]
pub struct ConversationView {
    pub id: String,
    pub contact_id: String,
    pub display_name: Option<String>,
    pub masked_number: Option<String>,
    pub erased: bool,
    pub status: String,
    pub unread_count: i64,
    pub last_activity_at: i64,
    pub window: Window,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
}

/// One message as an agent sees it.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub row: MessageRow,
    /// `None` when the contact's key was shredded.
    pub content: Option<Content>,
}

/// `+49•••••••••78`: country prefix and last two digits only.
pub fn mask_number(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    if chars.len() < 6 {
        return "•".repeat(chars.len().max(3));
    }
    let head: String = chars.iter().take(2).collect();
    let tail: String = chars.iter().skip(chars.len() - 2).collect();
    format!("+{head}{}{tail}", "•".repeat(chars.len() - 4))
}

/// Phone numbers written out in text (an optional `+`, then digits with spaces, dots, dashes or
/// brackets between them; 7 to 15 digits in all) masked like `mask_number`.
pub fn mask_numbers_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let after_word = i > 0 && chars.get(i - 1).is_some_and(|p| p.is_alphanumeric());
        let starts =
            c.is_ascii_digit() || (c == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts || after_word {
            out.push(c);
            i += 1;
            continue;
        }
        // The run: digits and separators, ending at its last digit.
        let mut end = i + 1;
        let mut last_digit = if c.is_ascii_digit() { i + 1 } else { i };
        while let Some(&d) = chars.get(end) {
            if d.is_ascii_digit() {
                last_digit = end + 1;
            } else if !matches!(d, ' ' | '-' | '.' | '(' | ')' | '\u{a0}') {
                break;
            }
            end += 1;
        }
        let run = chars.get(i..last_digit).unwrap_or_default();
        let digits: String = run.iter().filter(|d| d.is_ascii_digit()).collect();
        if (7..=15).contains(&digits.len()) {
            out.push_str(&mask_number(&digits));
        } else {
            out.extend(run);
        }
        i = last_digit.max(i + 1);
    }
    out
}

/// A `system` message (a customer changed their number) names full numbers in its body and
/// detail: masked for callers who may not reveal numbers.
fn mask_system_numbers(content: &mut Content) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = mask_numbers_in(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    if let Some(text) = &mut content.text {
        *text = mask_numbers_in(text);
    }
    if let Some(system) = content.detail.as_mut().and_then(|d| d.get_mut("system")) {
        walk(system);
    }
}

/// Read access to conversations.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    pub files: MediaFiles,
}

impl Inbox {
    fn key_of(&self, row: &ConversationRow) -> Option<DataKey> {
        let sealed = SealedKeyRow {
            master_version: row.master_version?,
            sealed_key: row.sealed_key.clone()?,
        };
        self.keys.open_contact_key(&sealed, &row.contact_id).ok()
    }

    fn view(&self, row: ConversationRow, now: i64) -> ConversationView {
        let key = self.key_of(&row);
        let open = |column: &str, ct: &Option<Vec<u8>>| -> Option<String> {
            let (key, ct) = (key.as_ref()?, ct.as_ref()?);
            key.open_string(&Aad::field("contacts", column, &row.contact_id), ct)
                .ok()
                .map(|s| s.to_string())
        };
        let name = open("name", &row.name_ct);
        let number = open("wa_id", &row.wa_id_ct);
        ConversationView {
            display_name: name,
            masked_number: number.as_deref().map(mask_number),
            erased: key.is_none(),
            window: window(row.last_inbound_at, now),
            id: row.id,
            contact_id: row.contact_id,
            status: row.status,
            unread_count: row.unread_count,
            last_activity_at: row.last_activity_at,
            assignee_id: row.assignee_id,
            team_id: row.team_id,
        }
    }

    /// Conversations, newest activity first.
    pub async fn conversations(
        &self,
        scope: &ConversationScope,
        limit: i64,
        before: Option<(i64, &str)>,
    ) -> Result<Vec<ConversationView>, InboxError> {
        let now = self.clock.now_ms();
        let rows = self
            .store
            .list_conversations(scope, limit.clamp(1, 200), before)
            .await?;
        Ok(rows.into_iter().map(|row| self.view(row, now)).collect())
    }

    /// An inbox view (mine, unassigned, team, all; status; label), newest activity first.
    pub async fn list(
        &self,
        scope: &ConversationScope,
        me: &str,
        filter: &InboxFilter,
        limit: i64,
    ) -> Result<Vec<ConversationView>, InboxError> {
        let now = self.clock.now_ms();
        let rows = self
            .store
            .list_inbox(scope, me, filter, limit.clamp(1, 5000))
            .await?;
        Ok(rows.into_iter().map(|row| self.view(row, now)).collect())
    }

    /// Finds conversations by name or masked number among the newest `SEARCH_DEPTH` of a view.
    /// Names and numbers are sealed per contact, so there is no index to ask: the search opens
    /// them, and is bounded so that it stays fast.
    pub async fn search(
        &self,
        scope: &ConversationScope,
        me: &str,
        filter: &InboxFilter,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ConversationView>, InboxError> {
        let needle = query.trim().to_lowercase();
        let digits: String = needle.chars().filter(char::is_ascii_digit).collect();
        let views = self.list(scope, me, filter, SEARCH_DEPTH).await?;
        Ok(views
            .into_iter()
            .filter(|v| {
                let name = v.display_name.as_deref().unwrap_or("").to_lowercase();
                let masked = v.masked_number.as_deref().unwrap_or("");
                name.contains(&needle)
                    || masked.contains(&needle)
                    || (digits.len() >= 2
                        && masked
                            .chars()
                            .filter(char::is_ascii_digit)
                            .collect::<String>()
                            .contains(&digits))
            })
            .take(limit)
            .collect())
    }

    async fn row(
        &self,
        id: &str,
        scope: &ConversationScope,
    ) -> Result<ConversationRow, InboxError> {
        self.store
            .conversation(id, scope)
            .await?
            .ok_or(InboxError::NotFound)
    }

    /// One conversation, if `scope` covers it.
    pub async fn conversation(
        &self,
        id: &str,
        scope: &ConversationScope,
    ) -> Result<ConversationView, InboxError> {
        let row = self.row(id, scope).await?;
        Ok(self.view(row, self.clock.now_ms()))
    }

    /// The contact's full number (`wa_id`) of a conversation: a deliberate act the caller records.
    pub async fn reveal_number(
        &self,
        id: &str,
        scope: &ConversationScope,
    ) -> Result<Option<String>, InboxError> {
        let row = self.row(id, scope).await?;
        let (Some(key), Some(ct)) = (self.key_of(&row), row.wa_id_ct.as_ref()) else {
            return Ok(None);
        };
        Ok(key
            .open_string(&Aad::field("contacts", "wa_id", &row.contact_id), ct)
            .ok()
            .map(|s| format!("+{}", *s)))
    }

    /// A page of messages, oldest first, ending before `before` (or at the newest). Numbers in
    /// `system` messages are masked unless `full_numbers` (the caller may reveal numbers).
    pub async fn messages(
        &self,
        conversation_id: &str,
        scope: &ConversationScope,
        limit: i64,
        before: Option<i64>,
        before_id: Option<&str>,
        full_numbers: bool,
    ) -> Result<Vec<MessageView>, InboxError> {
        let conversation = self.row(conversation_id, scope).await?;
        let key = self.key_of(&conversation);
        let mut rows = self
            .store
            .list_messages(conversation_id, limit.clamp(1, 500), before, before_id)
            .await?;
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(|row| {
                let content = key.as_ref().and_then(|key| {
                    let plain = key
                        .open(&Aad::field("messages", "content", &row.id), &row.content_ct)
                        .ok()?;
                    let mut content = serde_json::from_slice::<Content>(&plain).ok()?;
                    if row.kind == "system" && !full_numbers {
                        mask_system_numbers(&mut content);
                    }
                    Some(content)
                });
                MessageView { row, content }
            })
            .collect())
    }

    /// Marks a conversation as read.
    pub async fn mark_read(
        &self,
        conversation_id: &str,
        scope: &ConversationScope,
    ) -> Result<(), InboxError> {
        self.row(conversation_id, scope).await?;
        self.store
            .mark_conversation_read(conversation_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => InboxError::NotFound,
                other => other.into(),
            })
    }

    /// A message's media, decrypted: `(mime, bytes)`. Quarantined media only with `release`
    /// (an admin who confirmed the warning).
    pub async fn media(
        &self,
        message_id: &str,
        scope: &ConversationScope,
        release: bool,
    ) -> Result<(String, zeroize::Zeroizing<Vec<u8>>), InboxError> {
        let conversation = self
            .store
            .conversation_of_message(message_id)
            .await?
            .ok_or(InboxError::NotFound)?;
        self.row(&conversation, scope).await?;
        let media = self
            .store
            .media_for_message(message_id)
            .await?
            .ok_or(InboxError::NotFound)?;
        if media.state != "stored" && !(release && media.state == "quarantined") {
            return Err(InboxError::MediaUnavailable(media.state));
        }
        let key = self
            .keys
            .contact_key(self.store.as_ref(), &media.contact_id)
            .await?;
        let bytes = self.files.read(&key, &media.id).await?;
        Ok((
            media
                .mime
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        ))
    }
}

impl Inbox {
    /// The WhatsApp numbers Veil answers on, with their names and teams.
    pub async fn channels(&self) -> crate::store::StoreResult<Vec<crate::store::ChannelDetailRow>> {
        self.store.channels().await
    }

    /// Unread counts of the views a caller sees.
    pub async fn unread_counts(
        &self,
        scope: &ConversationScope,
        me: &str,
    ) -> crate::store::StoreResult<crate::store::UnreadCounts> {
        self.store.unread_counts(scope, me).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_text_are_masked() {
        assert_eq!(
            mask_numbers_in("User A changed from +49 151 2345-6789 to 4915199998888."),
            "User A changed from +49•••••••••89 to +49•••••••••88."
        );
        assert_eq!(
            mask_numbers_in("order 12345, room A12345678"),
            "order 12345, room A12345678"
        );
    }

    #[test]
    fn numbers_are_masked_to_prefix_and_last_two() {
        assert_eq!(mask_number("4915112345678"), "+49•••••••••78");
        assert_eq!(mask_number("123"), "•••");
        assert!(!mask_number("5511987654321").contains("98765"));
    }
}
