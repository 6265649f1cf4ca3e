//! Puts the guard between WhatsApp and the database: inbound text and captions are screened
//! before they are sealed (masked values never reach the database, not even in the raw
//! payload), outbound ones before they are queued; the policy lives in `settings` so every node
//! applies the same one.

use serde_json::Value;

use super::Content;
use crate::guard::policy::{Decision, Direction, Policy};
use crate::guard::{Guard, Verdict};
use crate::store::{Store, StoreResult};
use crate::whatsapp::webhook::InboundMessage;

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

/// The stored form of an inbound message: its content and raw payload, both made from the
/// screened message object, so no unscreened copy of a customer's string exists to be stored.
pub struct Screened {
    pub content: Content,
    /// The screened message object, as JSON: what is kept for reprocessing.
    pub raw: Vec<u8>,
}

/// Keys whose values Meta or the business sets, never the customer: ids, the sender's routing
/// number, times, types, hashes, catalogue and ad ids, and Meta's errors (the whole object). Every
/// other string of a message, at any depth, is screened: a field Meta adds later is screened
/// by default.
const NOT_CUSTOMER_TEXT: [&str; 18] = [
    "id",
    "from",
    "to",
    "from_user_id",
    "to_user_id",
    "timestamp",
    "type",
    "mime_type",
    "sha256",
    "message_id",
    "catalog_id",
    "product_retailer_id",
    "currency",
    "source_id",
    "source_type",
    "ctwa_clid",
    "media_type",
    "errors",
];

/// Screens an inbound message (or an echo of one the business sent from its phone, which can
/// no longer be refused but is stored by the same rules) and builds its stored form.
pub fn inbound(guard: &Guard, message: &InboundMessage) -> Screened {
    screen_object(guard, message.object.clone())
}

/// Builds the stored form of a message object (as Meta sent it, or as stored before).
fn screen_object(guard: &Guard, mut object: Value) -> Screened {
    let (text_at, caption_at) = crate::whatsapp::webhook::text_sources(&object);
    let mut walk = Walk {
        guard,
        path: String::new(),
        text_at: text_at.as_deref(),
        caption_at: caption_at.as_deref(),
        verdict: Verdict::default(),
    };
    walk.value(&mut object);
    let verdict = walk.verdict;
    // The payload kept is the screened object; the content is made from it (moved, not copied).
    let raw = serde_json::to_vec(&object).unwrap_or_else(|_| b"{}".to_vec());
    let mut content = super::content::content_from(object);
    content.guard = (!verdict.is_empty()).then_some(verdict);
    Screened { content, raw }
}

/// Why a re-screen stopped.
#[derive(Debug, thiserror::Error)]
pub enum RescreenError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("sealing: {0}")]
    Crypto(#[from] veil_crypto::CryptoError),
}

/// What a re-screen did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RescreenReport {
    pub messages: u64,
    pub changed: u64,
    /// Messages whose contact's key was shredded (nothing left to screen).
    pub erased: u64,
}

/// Re-screens every stored message that kept Meta's payload, under the policy now in force:
/// content and payload are rebuilt from the screened payload and sealed again, so values stored
/// before a policy change (or before every string was screened) are masked too. The guard's
/// earlier findings on text and caption are kept where the masked text no longer shows them.
pub async fn rescreen(
    store: &dyn Store,
    keys: &crate::keys::Keys,
    guard: &Guard,
) -> Result<RescreenReport, RescreenError> {
    use std::collections::HashMap;
    let mut report = RescreenReport::default();
    let mut contact_keys: HashMap<String, Option<veil_crypto::DataKey>> = HashMap::new();
    let mut after = String::new();
    loop {
        let rows = store.sealed_messages(&after, 500).await?;
        let Some(last) = rows.last() else { break };
        after.clone_from(&last.id);
        for row in rows {
            report.messages += 1;
            if !contact_keys.contains_key(&row.contact_id) {
                let key = keys.contact_key(store, &row.contact_id).await.ok();
                contact_keys.insert(row.contact_id.clone(), key);
            }
            let Some(Some(key)) = contact_keys.get(&row.contact_id) else {
                report.erased += 1;
                continue;
            };
            match reseal(guard, key, &row)? {
                Resealed::Unreadable => report.erased += 1,
                Resealed::Same => {}
                Resealed::Changed { content, raw } => {
                    store.reseal_message(&row.id, &content, &raw).await?;
                    report.changed += 1;
                }
            }
        }
    }
    Ok(report)
}

enum Resealed {
    Same,
    Unreadable,
    /// New ciphertexts of content and payload.
    Changed {
        content: Vec<u8>,
        raw: Vec<u8>,
    },
}

/// One stored message re-screened and, when that changed it, sealed again.
fn reseal(
    guard: &Guard,
    key: &veil_crypto::DataKey,
    row: &crate::store::SealedMessageRow,
) -> Result<Resealed, veil_crypto::CryptoError> {
    use veil_crypto::Aad;
    let raw_aad = Aad::field("messages", "raw", &row.id);
    let content_aad = Aad::field("messages", "content", &row.id);
    let Some(raw_ct) = &row.raw_ct else {
        return Ok(Resealed::Unreadable);
    };
    let (Ok(raw), Ok(old_content)) = (
        key.open(&raw_aad, raw_ct),
        key.open(&content_aad, &row.content_ct),
    ) else {
        return Ok(Resealed::Unreadable);
    };
    let Ok(object) = serde_json::from_slice::<Value>(&raw) else {
        return Ok(Resealed::Unreadable);
    };
    let mut screened = screen_object(guard, object);
    let old: Option<Content> = serde_json::from_slice(&old_content).ok();
    if let Some(old_verdict) = old.and_then(|c| c.guard) {
        let verdict = screened.content.guard.get_or_insert_with(Verdict::default);
        if verdict.text.is_empty() {
            verdict.text = old_verdict.text;
        }
        if verdict.caption.is_empty() {
            verdict.caption = old_verdict.caption;
        }
        verdict.risk = verdict.risk.max(old_verdict.risk);
    }
    let content = serde_json::to_vec(&screened.content).unwrap_or_default();
    if *raw == *screened.raw && *old_content == *content {
        return Ok(Resealed::Same);
    }
    Ok(Resealed::Changed {
        content: key.seal(&content_aad, &content)?,
        raw: key.seal(&raw_aad, &screened.raw)?,
    })
}

/// A customer's profile name as it may be stored: masked by the same policy as their text.
pub fn name(guard: &Guard, name: &str) -> String {
    guard.check(Direction::Inbound, name).text
}

/// Screens every customer string of a JSON value in place, collecting the findings.
struct Walk<'a> {
    guard: &'a Guard,
    /// The JSON pointer of the value being walked.
    path: String,
    text_at: Option<&'a str>,
    caption_at: Option<&'a str>,
    verdict: Verdict,
}

impl Walk<'_> {
    fn value(&mut self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let decision = self.guard.check(Direction::Inbound, s);
                if decision.findings.is_empty() {
                    return;
                }
                let findings = decision.findings;
                let risk = decision.risk;
                *s = decision.text;
                let into = if Some(self.path.as_str()) == self.text_at {
                    &mut self.verdict.text
                } else if Some(self.path.as_str()) == self.caption_at {
                    &mut self.verdict.caption
                } else {
                    &mut self.verdict.other
                };
                into.extend(findings);
                self.verdict.risk = self.verdict.risk.max(risk);
            }
            Value::Array(items) => {
                for (n, item) in items.iter_mut().enumerate() {
                    let len = self.path.len();
                    self.path.push('/');
                    self.path.push_str(&n.to_string());
                    self.value(item);
                    self.path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if NOT_CUSTOMER_TEXT.contains(&key.as_str()) {
                        continue;
                    }
                    let len = self.path.len();
                    self.path.push('/');
                    // JSON pointer escaping (RFC 6901).
                    if key.contains(['~', '/']) {
                        self.path
                            .push_str(&key.replace('~', "~0").replace('/', "~1"));
                    } else {
                        self.path.push_str(key);
                    }
                    self.value(item);
                    self.path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
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
        other: Vec::new(),
    };
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::guard::{Scanner, ScannerSettings};

    fn message(object: &serde_json::Value) -> InboundMessage {
        let body = serde_json::json!({"entry":[{"changes":[{"field":"messages","value":{"messages":[object]}}]}]});
        let items = crate::whatsapp::webhook::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
        match items.into_iter().next() {
            Some(crate::whatsapp::webhook::WebhookItem::Message(m)) => *m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_masked_card_leaves_neither_content_nor_raw() {
        let guard = Guard::new(Scanner::new(&ScannerSettings::default()));
        let m = message(
            &serde_json::json!({"from":"1","id":"w1","type":"text","text":{"body":"card 4111 1111 1111 1111 ok"}}),
        );
        let s = inbound(&guard, &m);
        assert_eq!(
            s.content.text.as_deref(),
            Some("card •••• •••• •••• 1111 ok")
        );
        let stored = format!(
            "{}{}",
            serde_json::to_string(&s.content).unwrap(),
            String::from_utf8(s.raw).unwrap()
        );
        assert!(!stored.contains("4111 1111 1111 1111"), "{stored}");
        assert!(stored.contains("•••• •••• •••• 1111"), "{stored}");
        let v = s.content.guard.unwrap();
        assert_eq!(v.text[0].kind, crate::guard::Kind::CardNumber);
        let nothing = inbound(
            &guard,
            &message(
                &serde_json::json!({"from":"1","id":"w2","type":"text","text":{"body":"hello"}}),
            ),
        );
        assert!(nothing.content.guard.is_none());
    }

    #[test]
    fn every_customer_string_is_screened_ids_are_not() {
        let guard = Guard::new(Scanner::new(&ScannerSettings::default()));
        let pan = "4111 1111 1111 1111";
        let m = message(&serde_json::json!({"from":"1","id":"w3","type":"location",
            "location":{"latitude":1.5,"longitude":2.5,"name":format!("shop {pan}"),"address":format!("street {pan}")},
            "referral":{"headline":pan,"body":format!("ad {pan}"),"source_id":"4111111111111111"},
            "context":{"from":"1","id":"4111111111111111"}}));
        let s = inbound(&guard, &m);
        let stored = format!(
            "{}{}",
            serde_json::to_string(&s.content).unwrap(),
            String::from_utf8(s.raw).unwrap()
        );
        assert!(!stored.contains(pan), "{stored}");
        assert_eq!(s.content.text.as_deref(), Some("shop •••• •••• •••• 1111"));
        let v = s.content.guard.unwrap();
        assert_eq!((v.text.len(), v.other.len()), (1, 3));
        // Ids keep their digits (they are Meta's, not the customer's).
        assert!(stored.contains("\"id\":\"4111111111111111\""), "{stored}");
    }
}
