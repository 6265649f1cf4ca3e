//! Outbound: an agent's reply becomes a durable outbox row, and a worker sends it.
//!
//! The request is committed (message + outbox row, one transaction) before the Graph API is
//! called. The worker claims due rows as `sending` with a lease, paces them per business number
//! and per recipient, sends, and records the wamid. Retryable failures go back to `queued` with
//! exponential backoff; other failures end as `failed` with Meta's code. A send whose answer was
//! lost (timeout, cut connection, or Veil dying mid-call, seen as an expired lease) becomes
//! `ambiguous`: Veil tagged it with `biz_opaque_callback_data = "veil:<message id>"`, so Meta's
//! status webhook can settle it; only if none arrives within `reconcile_ms` is it sent again.

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;
use veil_crypto::{Aad, DataKey};

use crate::clock::Clock;
use crate::config::OutboundConfig;
use crate::keys::{KeyError, Keys};
use crate::media::{MediaFiles, MediaStoreError};
use crate::store::{
    ConversationScope, NewMedia, NewMessage, NewOutbox, OutboxClaim, Store, StoreError,
};
use crate::whatsapp::graph::{GraphClient, SendOutcome};
use crate::whatsapp::pacing::Pacer;
use crate::whatsapp::webhook::{Content, OPAQUE_PREFIX};
use crate::whatsapp::window::window;

/// Placeholder in a stored media request until the file is uploaded to Meta.
const PENDING_MEDIA_ID: &str = "veil:pending-upload";

/// What an agent (or integration) asks to send.
#[derive(Debug, Clone)]
pub enum OutboundRequest {
    Text {
        body: String,
        reply_to: Option<String>,
    },
    Template {
        name: String,
        language: String,
        params: Vec<String>,
    },
    Media {
        bytes: Vec<u8>,
        mime: String,
        filename: String,
        caption: Option<String>,
    },
}

/// How far ahead a message may be scheduled.
pub const MAX_SCHEDULE_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// When a send goes out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SendAt {
    /// As soon as the worker gets to it.
    #[default]
    Now,
    /// At `at` (Unix ms). A free-form message whose 24-hour window will have closed by then is
    /// refused with `WindowWillClose` unless `after_window` says the sender accepts that WhatsApp
    /// will refuse it unless the customer writes again first.
    Later { at: i64, after_window: bool },
}

/// Why a send request was refused or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("conversation not found")]
    NotFound,
    #[error("the 24-hour customer-service window is closed; send a template")]
    WindowClosed,
    #[error("the 24-hour window closes before the scheduled time")]
    WindowWillClose { closes_at: i64 },
    #[error("invalid message: {0}")]
    Invalid(&'static str),
    /// The guard refused the message; the kinds that did (`card_number`, `code_request`, …).
    #[error("refused by the guard: {}", .0.join(", "))]
    Blocked(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Media(#[from] MediaStoreError),
}

/// The outbox: enqueueing and the send worker.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    pub graph: GraphClient,
    pub files: MediaFiles,
    pub config: OutboundConfig,
    pub phone_number_id: String,
    pacer: Arc<Pacer>,
    /// Screens what agents and integrations send.
    pub guard: Arc<crate::guard::Guard>,
    /// Files held in memory at once (shared with the upload intake: `media.max_concurrent_uploads`).
    pub uploads: Arc<tokio::sync::Semaphore>,
}

/// What one worker run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    pub ambiguous: u32,
    pub paced: u32,
}

struct Prepared {
    kind: String,
    request: Value,
    content: Content,
    media: Option<(String, Vec<u8>, String)>,
}

impl Outbox {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Keys,
        clock: Arc<dyn Clock>,
        graph: GraphClient,
        files: MediaFiles,
        config: OutboundConfig,
        phone_number_id: String,
    ) -> Self {
        let pacer = Pacer::new(
            config.messages_per_second,
            config.pair_burst,
            config.pair_refill_ms,
        );
        Self {
            store,
            keys,
            clock,
            graph,
            files,
            config,
            phone_number_id,
            pacer: Arc::new(pacer),
            uploads: Arc::new(tokio::sync::Semaphore::new(1)),
            guard: Arc::new(crate::guard::Guard::new(crate::guard::Scanner::new(
                &crate::guard::ScannerSettings::default(),
            ))),
        }
    }

    /// Uses `guard` (the app's, with its policy) instead of a default one.
    #[must_use]
    pub fn with_guard(mut self, guard: Arc<crate::guard::Guard>) -> Self {
        self.guard = guard;
        self
    }

    /// Shares the permits that bound how many files are held in memory at once.
    #[must_use]
    pub fn with_uploads(mut self, uploads: Arc<tokio::sync::Semaphore>) -> Self {
        self.uploads = uploads;
        self
    }

    /// Applies the guard's outbound policy: refuses the request when a finding blocks it,
    /// otherwise returns it with values masked where the policy says so, and the verdict.
    #[allow(
        clippy::too_many_lines,
        reason = "the same three steps for each kind of request"
    )]
    fn screen(
        &self,
        request: OutboundRequest,
    ) -> Result<(OutboundRequest, Option<crate::guard::Verdict>), OutboundError> {
        use crate::guard::policy::Direction;
        let check = |text: &str| self.guard.check(Direction::Outbound, text);
        let refuse = |decisions: &[crate::guard::policy::Decision]| {
            let mut kinds: Vec<String> = decisions
                .iter()
                .flat_map(crate::guard::policy::Decision::blocking)
                .map(str::to_owned)
                .collect();
            kinds.sort();
            kinds.dedup();
            if kinds.is_empty() {
                Ok(())
            } else {
                Err(OutboundError::Blocked(kinds))
            }
        };
        Ok(match request {
            OutboundRequest::Text { body, reply_to } => {
                let d = check(&body);
                refuse(std::slice::from_ref(&d))?;
                let verdict = crate::inbox::screen::verdict(Some(&d), None);
                (
                    OutboundRequest::Text {
                        body: d.text,
                        reply_to,
                    },
                    verdict,
                )
            }
            OutboundRequest::Media {
                bytes,
                mime,
                filename,
                caption,
            } => {
                // Size limits are checked when the request is prepared; here, what it is.
                if crate::guard::attachments::inspect(&bytes, None).is_some() {
                    return Err(OutboundError::Blocked(vec!["attachment".to_owned()]));
                }
                let d = caption.as_deref().map(check);
                refuse(d.as_slice())?;
                let verdict = crate::inbox::screen::verdict(None, d.as_ref());
                (
                    OutboundRequest::Media {
                        bytes,
                        mime,
                        filename,
                        caption: d.map(|d| d.text).or(caption),
                    },
                    verdict,
                )
            }
            OutboundRequest::Template {
                name,
                language,
                params,
            } => {
                let decisions: Vec<_> = params.iter().map(|p| check(p)).collect();
                refuse(&decisions)?;
                let params = decisions.into_iter().map(|d| d.text).collect();
                (
                    OutboundRequest::Template {
                        name,
                        language,
                        params,
                    },
                    None,
                )
            }
        })
    }

    /// Records a message to send now in `conversation_id`; returns the new message id.
    pub async fn enqueue(
        &self,
        conversation_id: &str,
        scope: &ConversationScope,
        request: OutboundRequest,
    ) -> Result<String, OutboundError> {
        self.enqueue_at(conversation_id, scope, request, SendAt::Now)
            .await
    }

    /// Records a message to send in `conversation_id` now or later; returns the new message id.
    #[allow(
        clippy::too_many_lines,
        reason = "builds the message, its outbox row and media row for one transaction"
    )]
    pub async fn enqueue_at(
        &self,
        conversation_id: &str,
        scope: &ConversationScope,
        request: OutboundRequest,
        when: SendAt,
    ) -> Result<String, OutboundError> {
        let conversation = self
            .store
            .conversation(conversation_id, scope)
            .await?
            .ok_or(OutboundError::NotFound)?;
        let now = self.clock.now_ms();
        let (request, verdict) = self.screen(request)?;
        let is_template = matches!(request, OutboundRequest::Template { .. });
        let open = window(conversation.last_inbound_at, now);
        if !is_template && !open.open {
            return Err(OutboundError::WindowClosed);
        }
        let due = match when {
            SendAt::Now => now,
            SendAt::Later { at, after_window } => {
                if at <= now || at > now.saturating_add(MAX_SCHEDULE_MS) {
                    return Err(OutboundError::Invalid(
                        "the time must be in the future and within 30 days",
                    ));
                }
                if let Some(closes_at) = open.closes_at
                    && !is_template
                    && !after_window
                    && at >= closes_at
                {
                    return Err(OutboundError::WindowWillClose { closes_at });
                }
                at
            }
        };
        let state = if due > now { "scheduled" } else { "queued" };
        let key = self
            .keys
            .contact_key(self.store.as_ref(), &conversation.contact_id)
            .await?;
        let open = |column: &str, ct: &Option<Vec<u8>>| -> Option<String> {
            let ct = ct.as_ref()?;
            key.open_string(
                &Aad::field("contacts", column, &conversation.contact_id),
                ct,
            )
            .ok()
            .map(|s| s.to_string())
        };
        let recipient = match (
            open("wa_id", &conversation.wa_id_ct),
            open("user_id", &conversation.user_id_ct),
        ) {
            (Some(number), _) => json!({"to": number}),
            (None, Some(user_id)) => json!({"recipient": user_id}),
            (None, None) => {
                return Err(OutboundError::Invalid(
                    "this contact has no reachable identifier",
                ));
            }
        };
        let message_id = Uuid::now_v7().to_string();
        let mut prepared = prepare(request, &message_id, &recipient)?;
        prepared.content.guard = verdict;
        let media_row = match prepared.media.take() {
            Some((media_id, bytes, mime)) => {
                let sha256 = hex::encode(veil_crypto::sha256(&bytes));
                let size_bytes = i64::try_from(bytes.len()).ok();
                self.files.write_vec(&key, &media_id, bytes).await?;
                Some(NewMedia {
                    id: media_id.clone(),
                    message_id: message_id.clone(),
                    contact_id: conversation.contact_id.clone(),
                    direction: "out",
                    meta_media_id: None,
                    mime: Some(mime.clone()),
                    sha256: Some(sha256),
                    state: "stored",
                    size_bytes,
                    created_at: now,
                })
            }
            None => None,
        };
        let outbox_id = Uuid::now_v7().to_string();
        let content =
            serde_json::to_vec(&prepared.content).map_err(|_| OutboundError::Invalid("content"))?;
        let request =
            serde_json::to_vec(&prepared.request).map_err(|_| OutboundError::Invalid("request"))?;
        let seal = |table: &str, column: &str, id: &str, bytes: &[u8]| {
            key.seal(&Aad::field(table, column, id), bytes)
                .map_err(KeyError::from)
        };
        let message = NewMessage {
            content_ct: seal("messages", "content", &message_id, &content)?,
            raw_ct: None,
            id: message_id.clone(),
            conversation_id: conversation.id.clone(),
            contact_id: conversation.contact_id.clone(),
            wamid: None,
            direction: "out",
            kind: prepared.kind,
            context_wamid: None,
            status: state,
            status_rank: 0,
            sent_at: due,
            created_at: now,
        };
        let outbox = NewOutbox {
            request_ct: seal("outbox", "request", &outbox_id, &request)?,
            id: outbox_id,
            message_id: message_id.clone(),
            contact_id: conversation.contact_id.clone(),
            now,
            due,
            state,
        };
        self.store
            .enqueue_outbound(&message, &outbox, media_row.as_ref())
            .await?;
        Ok(message_id)
    }

    /// Cancels a scheduled message of a conversation the caller may read; false when it already
    /// went (or is going) out.
    pub async fn cancel_scheduled(
        &self,
        conversation_id: &str,
        scope: &ConversationScope,
        message_id: &str,
    ) -> Result<bool, OutboundError> {
        self.store
            .conversation(conversation_id, scope)
            .await?
            .ok_or(OutboundError::NotFound)?;
        Ok(self
            .store
            .cancel_scheduled(conversation_id, message_id, self.clock.now_ms())
            .await?)
    }

    /// Sends every due outbox row once. Sends run concurrently; pacing is decided before each.
    pub async fn run_once(&self) -> Result<SendReport, OutboundError> {
        let now = self.clock.now_ms();
        // A claimed send may upload its file and then send, each within the request timeout; a
        // node that died holding the lease frees it soon after.
        let lease_ms = i64::try_from(self.config.request_timeout_ms)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(2)
            .saturating_add(5_000);
        self.store
            .expire_stuck_sends(now, now.saturating_add(self.reconcile_ms()))
            .await?;
        let claims = self
            .store
            .claim_outbox(now, now.saturating_add(lease_ms), 64)
            .await?;
        let mut report = SendReport::default();
        let mut sends = tokio::task::JoinSet::new();
        for claim in claims {
            let pacer = self.pacer.clone();
            let pace = self
                .store
                .pace(
                    &Pacer::buckets(&self.phone_number_id, &claim.contact_id),
                    &move |tats| pacer.decide(tats, now),
                )
                .await?;
            if let Err(wait) = pace {
                self.store
                    .outbox_retry(
                        &claim.id,
                        now.saturating_add(wait),
                        claim.attempts,
                        None,
                        now,
                    )
                    .await?;
                report.paced += 1;
                continue;
            }
            let this = self.clone();
            sends.spawn(async move {
                let outcome = this.send_one(&claim).await;
                (claim, outcome)
            });
        }
        // Every finished send is recorded before any error is returned: an early return would
        // drop the JoinSet and abort sends that Meta may already have accepted.
        let mut first_error = None;
        while let Some(joined) = sends.join_next().await {
            let Ok((claim, outcome)) = joined else {
                continue;
            };
            let recorded = match outcome {
                Ok(outcome) => self.record(&claim, outcome, now, &mut report).await,
                Err(err) => Err(err),
            };
            if let Err(err) = recorded {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(report), Err)
    }

    fn reconcile_ms(&self) -> i64 {
        i64::try_from(self.config.reconcile_ms).unwrap_or(i64::MAX / 4)
    }

    async fn send_one(&self, claim: &OutboxClaim) -> Result<SendOutcome, OutboundError> {
        let key = match self
            .keys
            .contact_key(self.store.as_ref(), &claim.contact_id)
            .await
        {
            Ok(key) => key,
            Err(KeyError::Shredded) => {
                return Ok(SendOutcome::Rejected {
                    code: 0,
                    title: "contact erased before sending".into(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        let bytes = key
            .open(
                &Aad::field("outbox", "request", &claim.id),
                &claim.request_ct,
            )
            .map_err(KeyError::from)?;
        let mut request: Value =
            serde_json::from_slice(&bytes).map_err(|_| OutboundError::Invalid("stored request"))?;
        if let Some(outcome) = self.upload_pending_media(claim, &key, &mut request).await? {
            return Ok(outcome);
        }
        Ok(self.graph.send(&request).await)
    }

    /// Uploads an outbound file the first time its message is tried, and puts Meta's id in the request.
    async fn upload_pending_media(
        &self,
        claim: &OutboxClaim,
        key: &DataKey,
        request: &mut Value,
    ) -> Result<Option<SendOutcome>, OutboundError> {
        let kind = request
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let pending = request
            .pointer(&format!("/{kind}/id"))
            .and_then(Value::as_str)
            == Some(PENDING_MEDIA_ID);
        if !pending {
            return Ok(None);
        }
        let Some(media) = self.store.media_for_message(&claim.message_id).await? else {
            return Ok(Some(SendOutcome::Rejected {
                code: 0,
                title: "media file missing".into(),
            }));
        };
        let meta_id = match media.meta_media_id {
            Some(id) => id,
            None => {
                // One permit per file in memory, as for uploads coming in.
                let _permit = self
                    .uploads
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| OutboundError::Invalid("shutting down"))?;
                let mut bytes = self.files.read(key, &media.id).await?;
                let mime = media.mime.clone().unwrap_or_default();
                // The opened buffer goes to the request as it is (no second copy of the file).
                let plain = std::mem::take(&mut *bytes);
                match self
                    .graph
                    .upload_media(plain, &mime, &format!("{kind}-{}", media.id))
                    .await
                {
                    Ok(id) => {
                        self.store.set_media_meta_id(&media.id, &id).await?;
                        id
                    }
                    Err(crate::whatsapp::graph::MediaError::Fatal(why)) => {
                        return Ok(Some(SendOutcome::Rejected {
                            code: 131_053,
                            title: why,
                        }));
                    }
                    Err(_) => {
                        return Ok(Some(SendOutcome::Retryable {
                            code: Some(131_053),
                        }));
                    }
                }
            }
        };
        if let Some(slot) = request.pointer_mut(&format!("/{kind}/id")) {
            *slot = Value::String(meta_id);
        }
        Ok(None)
    }

    async fn record(
        &self,
        claim: &OutboxClaim,
        outcome: SendOutcome,
        now: i64,
        report: &mut SendReport,
    ) -> Result<(), OutboundError> {
        let attempts = claim.attempts + 1;
        match outcome {
            SendOutcome::Accepted { wamid } => {
                self.store.outbox_sent(claim, &wamid, now).await?;
                report.sent += 1;
            }
            SendOutcome::Rejected { code, title } => {
                self.store.outbox_failed(claim, code, &title, now).await?;
                report.failed += 1;
            }
            SendOutcome::Ambiguous => {
                tracing::warn!(message = %claim.message_id, "send outcome unknown; waiting for a status webhook before resending");
                self.store
                    .outbox_ambiguous(
                        &claim.id,
                        now.saturating_add(self.reconcile_ms()),
                        attempts,
                        now,
                    )
                    .await?;
                report.ambiguous += 1;
            }
            SendOutcome::Retryable { code } if attempts >= i64::from(self.config.max_attempts) => {
                let title = format!("gave up after {attempts} attempts");
                self.store
                    .outbox_failed(claim, code.unwrap_or(0), &title, now)
                    .await?;
                report.failed += 1;
            }
            SendOutcome::Retryable { code } => {
                let mut delay = backoff_ms(&self.config, attempts);
                if code == Some(131_056) {
                    let [_, pair] = Pacer::buckets(&self.phone_number_id, &claim.contact_id);
                    self.store
                        .set_pace(&pair, self.pacer.pair_refused_tat(now))
                        .await?;
                    delay = delay
                        .max(i64::try_from(self.config.pair_refill_ms).unwrap_or(i64::MAX / 4));
                }
                self.store
                    .outbox_retry(&claim.id, now.saturating_add(delay), attempts, code, now)
                    .await?;
                report.retried += 1;
            }
        }
        Ok(())
    }
}

/// Exponential backoff: base × 2^(attempts−1), capped.
pub fn backoff_ms(config: &OutboundConfig, attempts: i64) -> i64 {
    let exponent = u32::try_from((attempts - 1).clamp(0, 20)).unwrap_or(20);
    let delay = config
        .base_backoff_ms
        .saturating_mul(1u64 << exponent)
        .min(config.max_backoff_ms);
    i64::try_from(delay).unwrap_or(i64::MAX / 4)
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per kind of request; each arm is short"
)]
fn prepare(
    request: OutboundRequest,
    message_id: &str,
    recipient: &Value,
) -> Result<Prepared, OutboundError> {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "biz_opaque_callback_data": format!("{OPAQUE_PREFIX}{message_id}")});
    if let (Some(body), Some(recipient)) = (body.as_object_mut(), recipient.as_object()) {
        body.extend(recipient.clone());
    }
    let (kind, object, content, media) = match request {
        OutboundRequest::Text {
            body: text,
            reply_to,
        } => {
            if text.trim().is_empty() || text.chars().count() > 4096 {
                return Err(OutboundError::Invalid(
                    "text must have 1 to 4096 characters",
                ));
            }
            if let (Some(reply_to), Some(obj)) = (reply_to, body.as_object_mut()) {
                obj.insert("context".into(), json!({"message_id": reply_to}));
            }
            (
                "text".to_owned(),
                json!({"body": text, "preview_url": false}),
                Content {
                    text: Some(text),
                    ..Content::default()
                },
                None,
            )
        }
        OutboundRequest::Template {
            name,
            language,
            params,
        } => {
            let valid_name = !name.is_empty()
                && name.len() <= 512
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name || language.is_empty() || language.len() > 16 {
                return Err(OutboundError::Invalid(
                    "template needs a name (letters, digits, _) and a language code",
                ));
            }
            let parameters: Vec<Value> = params
                .iter()
                .map(|p| json!({"type": "text", "text": p}))
                .collect();
            let components = if parameters.is_empty() {
                json!([])
            } else {
                json!([{"type": "body", "parameters": parameters}])
            };
            let template =
                json!({"name": name, "language": {"code": language}, "components": components});
            let content = Content {
                template: Some(json!({"name": name, "language": language, "params": params})),
                ..Content::default()
            };
            ("template".to_owned(), template, content, None)
        }
        OutboundRequest::Media {
            bytes,
            mime,
            filename,
            caption,
        } => {
            let (kind, limit) = crate::whatsapp::media_kind::media_kind(&mime).ok_or(
                OutboundError::Invalid("this file type cannot be sent on WhatsApp"),
            )?;
            if bytes.is_empty() || bytes.len() > limit {
                return Err(OutboundError::Invalid(
                    "file is empty or larger than WhatsApp allows for its type",
                ));
            }
            if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
                return Err(OutboundError::Invalid(
                    "caption must have at most 1024 characters",
                ));
            }
            let mut object = json!({"id": PENDING_MEDIA_ID});
            if let Some(obj) = object.as_object_mut() {
                if let Some(caption) = caption
                    .clone()
                    .filter(|_| matches!(kind, "image" | "video" | "document"))
                {
                    obj.insert("caption".into(), json!(caption));
                }
                if kind == "document" {
                    obj.insert("filename".into(), json!(filename));
                }
            }
            let content = Content {
                caption,
                filename: Some(filename),
                ..Content::default()
            };
            (
                kind.to_owned(),
                object,
                content,
                Some((Uuid::now_v7().to_string(), bytes, mime)),
            )
        }
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert("type".into(), json!(kind));
        obj.insert(kind.clone(), object);
    }
    Ok(Prepared {
        kind,
        request: body,
        content,
        media,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = OutboundConfig {
            base_backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..OutboundConfig::default()
        };
        let delays: Vec<i64> = (1..=6).map(|a| backoff_ms(&config, a)).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn requests_carry_our_id_and_the_recipient() {
        let p = prepare(
            OutboundRequest::Text {
                body: "Hi".into(),
                reply_to: Some("wamid.X".into()),
            },
            "m1",
            &json!({"to": "4915"}),
        )
        .unwrap();
        assert_eq!(p.request["biz_opaque_callback_data"], "veil:m1");
        assert_eq!(p.request["to"], "4915");
        assert_eq!(p.request["text"]["body"], "Hi");
        assert_eq!(p.request["context"]["message_id"], "wamid.X");
        let p = prepare(
            OutboundRequest::Template {
                name: "order_update".into(),
                language: "de".into(),
                params: vec!["42".into()],
            },
            "m2",
            &json!({"recipient": "US.1"}),
        )
        .unwrap();
        assert_eq!(
            p.request["template"]["components"][0]["parameters"][0]["text"],
            "42"
        );
        assert_eq!(p.request["recipient"], "US.1");
    }

    #[test]
    #[allow(clippy::too_many_lines, reason = "a table of refused requests")]
    fn invalid_requests_are_refused() {
        let to = json!({"to": "1"});
        assert!(
            prepare(
                OutboundRequest::Text {
                    body: " ".into(),
                    reply_to: None
                },
                "m",
                &to
            )
            .is_err()
        );
        assert!(
            prepare(
                OutboundRequest::Text {
                    body: "x".repeat(4097),
                    reply_to: None
                },
                "m",
                &to
            )
            .is_err()
        );
        assert!(
            prepare(
                OutboundRequest::Template {
                    name: "bad name".into(),
                    language: "en".into(),
                    params: vec![]
                },
                "m",
                &to
            )
            .is_err()
        );
        assert!(
            prepare(
                OutboundRequest::Media {
                    bytes: vec![1],
                    mime: "application/x-msdownload".into(),
                    filename: "a.exe".into(),
                    caption: None
                },
                "m",
                &to
            )
            .is_err()
        );
        assert!(
            prepare(
                OutboundRequest::Media {
                    bytes: vec![0; 6 * 1024 * 1024],
                    mime: "image/png".into(),
                    filename: "a.png".into(),
                    caption: None
                },
                "m",
                &to
            )
            .is_err()
        );
    }
}
