//! What a webhook says: a message sealed under its contact's key, or a status update (with the
//! recipient's identifiers removed), each at a plausible time.

use std::sync::atomic::Ordering;

use uuid::Uuid;
use veil_crypto::{Aad, DataKey};

use super::contacts::name_hash;
use super::{Blinds, IngestError, Writer};
use crate::store::{
    ContactTouch, InboundMessageWrite, IngestWrite, NewMedia, NewMessage, NewStatus,
};
use crate::whatsapp::webhook::{InboundMessage, StatusUpdate};

impl Writer {
    #[allow(
        clippy::too_many_lines,
        reason = "maps one parsed message to its sealed rows, field by field"
    )]
    pub(super) async fn add_message(
        &mut self,
        message: &InboundMessage,
        blinds: &Blinds,
        now: i64,
        write: &mut IngestWrite,
    ) -> Result<(), IngestError> {
        let channel_id = self.channel_id(message, now).await?;
        let contact = self
            .contact(&message.customer, blinds, &channel_id, now, write)
            .await?;
        let id = Uuid::now_v7().to_string();
        let screened = crate::inbox::screen::inbound(&self.deps.guard, message);
        let content = serde_json::to_vec(&screened.content).map_err(|_| IngestError::Encode)?;
        let sealed = |column: &str, bytes: &[u8]| {
            contact
                .key
                .seal(&Aad::field("messages", column, &id), bytes)
                .map_err(IngestError::from_crypto)
        };
        let sent_at = plausible_time(message.timestamp_s, now);
        // The name is written only when it differs from the one last written for this contact.
        let renamed = |name: &str| {
            let hash = name_hash(name);
            contact.name_hash.swap(hash, Ordering::Relaxed) != hash
        };
        let touch = ContactTouch {
            key_id: contact.key_id.clone(),
            name_ct: match (&message.profile_name, message.echo) {
                (Some(name), false) if renamed(name) => {
                    let name = crate::inbox::screen::name(&self.deps.guard, name);
                    Some(contact.key.seal(
                        &Aad::field("contacts", "name", &contact.id),
                        name.as_bytes(),
                    )?)
                }
                _ => None,
            },
            last_inbound_at: if message.echo { 0 } else { sent_at },
        };
        let media = message
            .media
            .as_ref()
            .filter(|_| !message.echo)
            .map(|m| NewMedia {
                id: Uuid::now_v7().to_string(),
                message_id: id.clone(),
                contact_id: contact.id.clone(),
                direction: "in",
                meta_media_id: Some(m.id.clone()),
                mime: m.mime.clone(),
                sha256: m.sha256.clone(),
                state: "pending",
                size_bytes: None,
                created_at: now,
            });
        write.messages.push(InboundMessageWrite {
            message: NewMessage {
                content_ct: sealed("content", &content)?,
                raw_ct: Some(sealed("raw", &screened.raw)?),
                id,
                conversation_id: contact.conversation_id.clone(),
                contact_id: contact.id.clone(),
                wamid: Some(message.wamid.clone()),
                direction: if message.echo { "out" } else { "in" },
                kind: message.kind.clone(),
                context_wamid: message.context_wamid.clone(),
                status: if message.echo { "sent" } else { "received" },
                status_rank: if message.echo { 20 } else { 0 },
                sent_at,
                created_at: now,
            },
            touch,
            media,
        });
        Ok(())
    }

    pub(super) fn status_row(
        &self,
        status: &StatusUpdate,
        now: i64,
        (slice, key): (&str, &DataKey),
    ) -> Result<NewStatus, IngestError> {
        let id = Uuid::now_v7().to_string();
        let blinds = self.blinds(&status.recipient);
        Ok(NewStatus {
            // The installation's key seals what no contact's key can: so the recipient's
            // number and user id are taken out first (the blind index links the status to the
            // contact), and erasing a contact leaves nothing of theirs under a key it cannot
            // shred.
            raw_ct: key.seal(
                &Aad::field("status_events", "raw", &id),
                &without_recipient(&status.raw),
            )?,
            id,
            wamid: status.wamid.clone(),
            status: status.status.clone(),
            status_rank: status.rank,
            error_code: status.error_code,
            error_title: status.error_title.clone(),
            recipient_blind: blinds.wa.or(blinds.user),
            occurred_at: plausible_time(status.timestamp_s, now),
            received_at: now,
            our_message_id: status.our_message_id.clone(),
            digest: self
                .deps
                .keys
                .blind("status", &String::from_utf8_lossy(&status.raw)),
            key_name: slice.to_owned(),
        })
    }
}

/// A raw status event without the recipient's identifiers (`recipient_id`, `recipient_user_id`,
/// and the same inside `recipient` objects); unreadable JSON is not kept at all.
fn without_recipient(raw: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(raw) else {
        return b"{}".to_vec();
    };
    if let Some(fields) = value.as_object_mut() {
        for key in ["recipient_id", "recipient_user_id", "recipient"] {
            fields.remove(key);
        }
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

/// How far back Meta's time of a message may lie: Meta redelivers a webhook for up to 7 days.
const MAX_DELIVERY_DELAY_MS: i64 = 7 * 86_400_000;

/// Meta's time of a message or status (Unix seconds) when it can be real: not in the future of
/// our clock (a small skew is the receive time) and not older than Meta keeps redelivering;
/// otherwise the receive time. What Meta sent stays in the raw payload for the record; only
/// this time orders messages and opens the 24-hour window.
fn plausible_time(meta_s: Option<i64>, now: i64) -> i64 {
    match meta_s.and_then(|s| s.checked_mul(1000)) {
        Some(ms) if ms > now => now,
        Some(ms) if ms >= now.saturating_sub(MAX_DELIVERY_DELAY_MS) => ms,
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn status_payloads_lose_the_recipients_identifiers() {
        let raw = br#"{"id":"wamid.1","status":"read","recipient_id":"4915112345678","recipient_user_id":"US.1","timestamp":"1"}"#;
        let kept = String::from_utf8(without_recipient(raw)).unwrap();
        assert!(
            !kept.contains("4915112345678") && !kept.contains("US.1"),
            "{kept}"
        );
        assert!(kept.contains("\"status\":\"read\""), "{kept}");
        assert_eq!(without_recipient(b"not json"), b"{}");
    }

    #[test]
    fn times_that_cannot_be_real_give_way_to_the_receive_time() {
        let now = 1_800_000_000_000;
        assert_eq!(plausible_time(Some(1_799_999_990), now), 1_799_999_990_000);
        assert_eq!(plausible_time(Some(-5), now), now, "negative");
        assert_eq!(plausible_time(Some(0), now), now, "1970");
        assert_eq!(plausible_time(Some(9_999_999_999), now), now, "far future");
        assert_eq!(plausible_time(Some(i64::MAX), now), now, "overflow");
        assert_eq!(plausible_time(None, now), now);
        assert_eq!(
            plausible_time(Some(now / 1000 - 8 * 86_400), now),
            now,
            "older than Meta redelivers"
        );
    }
}
