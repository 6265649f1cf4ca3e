//! Puts the guard between WhatsApp and the database: inbound text and captions are screened
//! before they are sealed (masked values never reach the database, not even in the raw
//! payload), outbound ones before they are queued; the policy lives in `settings` so every node
//! applies the same one.

use std::sync::Arc;

use serde_json::Value;

use crate::guard::policy::{Decision, Direction, Policy};
use crate::guard::{Guard, Verdict};
use crate::store::{Store, StoreResult};
use crate::whatsapp::webhook::Content;

/// The setting that holds an admin's policy overrides (JSON).
pub const SETTING: &str = "guard_policy";

/// Loads the stored policy into `guard` (the defaults when none or unreadable).
pub async fn load_policy(store: &dyn Store, guard: &Guard) -> StoreResult<()> {
    let policy = match store.setting(SETTING).await? {
        Some(text) => serde_json::from_str::<Policy>(&text).unwrap_or_else(|_| {
            tracing::warn!("stored guard policy is unreadable; using the defaults");
            Policy::default()
        }),
        None => Policy::default(),
    };
    guard.install(policy);
    Ok(())
}

/// Stores `policy` and applies it on this node (others pick it up on their next refresh).
pub async fn save_policy(
    store: &dyn Store,
    guard: &Guard,
    policy: Policy,
    now: i64,
) -> StoreResult<()> {
    let text = serde_json::to_string(&policy).unwrap_or_else(|_| "{}".to_owned());
    store.put_setting(SETTING, &text, now).await?;
    guard.install(policy);
    Ok(())
}

/// An inbound message's content and raw payload as they may be stored.
pub struct Screened {
    pub content: Content,
    /// The raw payload with the masked text in place of the original, when anything was masked.
    pub raw: Option<Vec<u8>>,
}

/// Screens an inbound message (or an echo of one the business sent from its phone, which can
/// no longer be refused but is stored by the same rules).
pub fn inbound(guard: &Arc<Guard>, content: &Content, raw: &[u8]) -> Screened {
    let mut content = content.clone();
    let text = content
        .text
        .as_deref()
        .map(|t| guard.check(Direction::Inbound, t));
    let caption = content
        .caption
        .as_deref()
        .map(|t| guard.check(Direction::Inbound, t));
    let masked = |d: &Option<Decision>, original: &Option<String>| {
        d.as_ref()
            .is_some_and(|d| Some(d.text.as_str()) != original.as_deref())
    };
    let changed = masked(&text, &content.text) || masked(&caption, &content.caption);
    let verdict = verdict(text.as_ref(), caption.as_ref());
    if let Some(d) = text {
        content.text = Some(d.text);
    }
    if let Some(d) = caption {
        content.caption = Some(d.text);
    }
    let raw = changed.then(|| redact_raw(raw, &content));
    content.guard = verdict;
    Screened { content, raw }
}

/// The verdict of a text and a caption, or `None` when nothing was found.
pub fn verdict(text: Option<&Decision>, caption: Option<&Decision>) -> Option<Verdict> {
    let v = Verdict {
        risk: text
            .map(|d| d.risk)
            .max(caption.map(|d| d.risk))
            .unwrap_or_default(),
        text: text.map(|d| d.findings.clone()).unwrap_or_default(),
        caption: caption.map(|d| d.findings.clone()).unwrap_or_default(),
    };
    (!v.is_empty()).then_some(v)
}

/// The message object with its text body and captions replaced by the stored (masked) ones;
/// an unreadable payload is not kept at all.
fn redact_raw(raw: &[u8], content: &Content) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(raw) else {
        return b"{}".to_vec();
    };
    if let (Some(body), Some(text)) = (value.pointer_mut("/text/body"), &content.text) {
        *body = Value::String(text.clone());
    }
    for kind in ["image", "video", "document", "sticker", "audio"] {
        if let (Some(caption), Some(text)) = (
            value.pointer_mut(&format!("/{kind}/caption")),
            &content.caption,
        ) {
            *caption = Value::String(text.clone());
        }
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::guard::{Scanner, ScannerSettings};

    #[test]
    fn a_masked_card_leaves_neither_content_nor_raw() {
        let guard = Arc::new(Guard::new(Scanner::new(&ScannerSettings::default())));
        let content = Content {
            text: Some("card 4111 1111 1111 1111 ok".to_owned()),
            ..Content::default()
        };
        let raw = br#"{"from":"1","type":"text","text":{"body":"card 4111 1111 1111 1111 ok"}}"#;
        let s = inbound(&guard, &content, raw);
        assert_eq!(
            s.content.text.as_deref(),
            Some("card •••• •••• •••• 1111 ok")
        );
        let raw = String::from_utf8(s.raw.unwrap()).unwrap();
        assert!(!raw.contains("4111 1111 1111 1111"), "{raw}");
        assert!(raw.contains("•••• •••• •••• 1111"), "{raw}");
        let v = s.content.guard.unwrap();
        assert_eq!(v.text[0].kind, "card_number");
        let nothing = inbound(
            &guard,
            &Content {
                text: Some("hello".to_owned()),
                ..Content::default()
            },
            b"{}",
        );
        assert!(nothing.raw.is_none() && nothing.content.guard.is_none());
    }
}
