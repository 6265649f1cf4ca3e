//! Outbound: an agent's reply becomes a durable outbox row, and a worker sends it.
//!
//! The request is committed (message + outbox row, one transaction) before the Graph API is
//! called. The worker claims due rows as `sending` with a lease, paces them per business number
//! and per recipient, sends, and records the wamid. Retryable failures go back to `queued` with
//! exponential backoff; other failures end as `failed` with Meta's code. A send whose answer was
//! lost (timeout, cut connection, or Veil dying mid-call, seen as an expired lease) becomes
//! `ambiguous`: Veil tagged it with `biz_opaque_callback_data = "veil:<message id>"`, so Meta's
//! status webhook can settle it; only if none arrives within `reconcile_ms` is it sent again.

mod request;
mod worker;

use request::prepare;
pub use worker::backoff_ms;

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;
use veil_crypto::Aad;

use crate::clock::Clock;
use crate::config::OutboundConfig;
use crate::keys::{KeyError, Keys};
use crate::media::{MediaFiles, MediaStoreError};
use crate::store::{ConversationScope, NewMedia, NewMessage, NewOutbox, Store, StoreError};
use crate::whatsapp::graph::GraphClient;
use crate::whatsapp::pacing::Pacer;
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
