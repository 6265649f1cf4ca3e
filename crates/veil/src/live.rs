//! Live updates for open inboxes: "something changed" signals, never content.
//!
//! Ingest, the send worker and the desk publish a `LiveEvent` after their change is committed; the
//! inbox's event stream (`/inbox/events`, server-sent events) forwards it, and the page then
//! re-reads what it shows through the normal, access-checked routes. An event carries a kind and
//! at most a conversation id, so a stream leaks nothing a caller could not read anyway, and a
//! client that missed events (a dropped connection, a lagging stream) loses nothing: it re-reads
//! on reconnect.

use tokio::sync::broadcast;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// New messages arrived (inbound) or were queued (outbound).
    Message,
    /// Delivery states moved (sent, delivered, read, failed).
    Status,
    /// Assignment, status, labels or notes of a conversation.
    Conversation,
}

impl LiveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveKind::Message => "message",
            LiveKind::Status => "status",
            LiveKind::Conversation => "conversation",
        }
    }
}

/// One change signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub kind: LiveKind,
    pub conversation_id: Option<String>,
}

/// The in-process fan-out of change signals.
#[derive(Debug, Clone)]
pub struct Live {
    tx: broadcast::Sender<LiveEvent>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx }
    }

    /// Signals a change; nobody listening is fine.
    pub fn publish(&self, kind: LiveKind, conversation_id: Option<&str>) {
        let _ = self.tx.send(LiveEvent {
            kind,
            conversation_id: conversation_id.map(str::to_owned),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }
}
