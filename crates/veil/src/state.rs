//! `AppState`: the one handle on the domain that every handler, job and command receives. It is
//! assembled once in `app::start`; handlers reach data only through its services (never the store
//! directly: `tests/layering.rs` holds that).

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::identity::Identity;
use crate::inbound::Ingestor;
use crate::inbox::Inbox;
use crate::outbox::Outbox;
use crate::store::Store;

/// Shared state of every handler: one `Arc`, because axum clones the state for every extractor
/// of every request.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<AppParts>,
}

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }
}

impl AppState {
    /// Writes the audit entry of a read or an action by `principal`; nothing is returned or done
    /// when it fails (fail-closed).
    pub async fn audited(
        &self,
        principal: &crate::identity::Principal,
        action: &str,
        target: String,
    ) -> Result<(), crate::error::AppError> {
        Ok(self.identity.record(principal, action, &target).await?)
    }

    /// Cancels a scheduled message of conversation `id` (recorded first) and tells open inboxes;
    /// `false` when it is not scheduled any more.
    pub async fn cancel_scheduled(
        &self,
        principal: &crate::identity::Principal,
        id: &str,
        message_id: &str,
    ) -> Result<bool, crate::error::AppError> {
        let scope = principal
            .conversation_scope()
            .ok_or(crate::error::AppError::Forbidden)?;
        self.audited(principal, "message.cancel", format!("message:{message_id}"))
            .await?;
        let cancelled = self.outbox.cancel_scheduled(id, &scope, message_id).await?;
        if cancelled {
            self.live
                .publish(crate::inbox::live::LiveKind::Message, Some(id));
        }
        Ok(cancelled)
    }

    /// Queues a message through the outbox, wakes the send worker and tells open inboxes (on every
    /// node); a refusal by the guard is recorded in the audit log before the error is returned.
    pub async fn enqueue_screened(
        &self,
        principal: &crate::identity::Principal,
        conversation_id: &str,
        scope: &crate::store::ConversationScope,
        request: crate::outbox::OutboundRequest,
        when: crate::outbox::SendAt,
    ) -> Result<Result<String, crate::outbox::OutboundError>, crate::error::AppError> {
        let outcome = self
            .outbox
            .enqueue_at(conversation_id, scope, request, when)
            .await;
        match &outcome {
            Ok(_) => {
                self.send_wakeup.notify_one();
                self.live
                    .publish(crate::inbox::live::LiveKind::Message, Some(conversation_id));
            }
            Err(crate::outbox::OutboundError::Blocked(kinds)) => {
                self.guard_refused(principal, conversation_id, kinds)
                    .await?;
            }
            Err(_) => {}
        }
        Ok(outcome)
    }

    /// Records that the guard refused a message in a conversation, naming the detectors
    /// (never the values).
    pub async fn guard_refused(
        &self,
        principal: &crate::identity::Principal,
        conversation_id: &str,
        kinds: &[String],
    ) -> Result<(), crate::error::AppError> {
        let event = crate::audit::AuditEvent::by(
            principal,
            "guard.block",
            format!("conversation:{conversation_id}"),
        )
        .outcome(crate::audit::Outcome::Denied)
        .reason(&kinds.join(","));
        self.audit.record(event).await?;
        Ok(())
    }
}

impl AppState {
    /// Puts a guard policy in force on this node and stores it for the others (recorded first,
    /// naming the detectors changed, never values).
    pub async fn set_guard_policy(
        &self,
        principal: &crate::identity::Principal,
        policy: crate::guard::policy::Policy,
    ) -> Result<(), crate::error::AppError> {
        let changed: Vec<&str> = policy.overrides.keys().map(String::as_str).collect();
        let event =
            crate::audit::AuditEvent::by(principal, "guard.policy", "settings:guard_policy")
                .reason(&changed.join(","));
        self.audit.record(event).await?;
        crate::inbox::screen::save_policy(
            self.store.as_ref(),
            &self.guard,
            policy,
            self.clock.now_ms(),
        )
        .await?;
        Ok(())
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.inner
    }
}

/// What handlers share.
#[derive(Debug)]
pub struct AppParts {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub ingestor: Ingestor,
    pub inbox: Inbox,
    pub outbox: Outbox,
    /// The guard (C7) with the policy in force.
    pub guard: Arc<crate::guard::Guard>,
    pub identity: Identity,
    /// The tamper-evident audit log (also reachable through `identity.audit()`).
    pub audit: crate::audit::AuditLog,
    pub alerter: crate::audit::alerts::Alerter,
    pub deliverer: crate::audit::deliver::Deliverer,
    /// Change signals for open inboxes.
    pub live: crate::inbox::live::Live,
    /// Assignment, status, labels, notes, canned replies.
    pub desk: crate::inbox::desk::Desk,
    /// Auto-assignment of waiting conversations.
    pub assigner: crate::inbox::assignment::Assigner,
    /// Wakes the send worker when a message is queued.
    pub send_wakeup: Arc<tokio::sync::Notify>,
    /// Wakes the media worker when inbound media arrives.
    pub media_wakeup: Arc<tokio::sync::Notify>,
    /// Permits to read an upload (`media.max_concurrent_uploads`).
    pub uploads: Arc<tokio::sync::Semaphore>,
}
