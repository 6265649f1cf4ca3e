//! Live updates for open inboxes: "something changed" signals, never content.
//!
//! Ingest, the send worker and the desk publish a `LiveEvent` after their change is committed; the
//! inbox's event stream (`/inbox/events`, server-sent events) forwards it, and the page then
//! re-reads what it shows through the normal, access-checked routes. An event carries a kind and
//! at most a conversation id, so a stream leaks nothing a caller could not read anyway, and a
//! client that missed events (a dropped connection, a lagging stream) loses nothing: it re-reads
//! on reconnect.
//!
//! Several nodes (PostgreSQL): every signal is also handed to the relay (`Live::with_relay`), which `app`
//! forwards to the other nodes through the database (PostgreSQL `NOTIFY`, see
//! `NodeStore::publish_changes`); signals from other nodes come back through `Live::deliver`. An
//! agent connected to node B therefore hears of a message that arrived at node A.

use tokio::sync::{broadcast, mpsc};

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

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Message, Self::Status, Self::Conversation]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One change signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub kind: LiveKind,
    pub conversation_id: Option<String>,
}

impl LiveEvent {
    /// The text another node receives: the sending node, the kind and the conversation id (ids
    /// only, never content).
    pub fn encode(&self, node: &str) -> String {
        format!(
            "{node} {} {}",
            self.kind.as_str(),
            self.conversation_id.as_deref().unwrap_or("-")
        )
    }

    /// Reads `encode`'s text: the sending node and the event.
    pub fn decode(text: &str) -> Option<(&str, Self)> {
        let mut parts = text.splitn(3, ' ');
        let node = parts.next()?;
        let kind = LiveKind::parse(parts.next()?)?;
        let conversation_id = match parts.next()? {
            "-" => None,
            id => Some(id.to_owned()),
        };
        Some((
            node,
            Self {
                kind,
                conversation_id,
            },
        ))
    }
}

/// The in-process fan-out of change signals.
#[derive(Debug, Clone)]
pub struct Live {
    tx: broadcast::Sender<LiveEvent>,
    relay: Option<mpsc::UnboundedSender<LiveEvent>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx, relay: None }
    }

    /// A fan-out whose signals are also handed to the returned receiver, for other nodes.
    pub fn with_relay() -> (Self, mpsc::UnboundedReceiver<LiveEvent>) {
        let (relay, outgoing) = mpsc::unbounded_channel();
        let (tx, _) = broadcast::channel(1024);
        (
            Self {
                tx,
                relay: Some(relay),
            },
            outgoing,
        )
    }

    /// Signals a change here and to the other nodes; nobody listening is fine.
    pub fn publish(&self, kind: LiveKind, conversation_id: Option<&str>) {
        let event = LiveEvent {
            kind,
            conversation_id: conversation_id.map(str::to_owned),
        };
        if let Some(relay) = &self.relay {
            let _ = relay.send(event.clone());
        }
        let _ = self.tx.send(event);
    }

    /// Signals a change that happened on another node, to the listeners of this one only.
    pub fn deliver(&self, event: LiveEvent) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_cross_nodes_as_ids_only() {
        let event = LiveEvent {
            kind: LiveKind::Conversation,
            conversation_id: Some("0190-abc".into()),
        };
        let text = event.encode("node-a");
        assert_eq!(text, "node-a conversation 0190-abc");
        assert_eq!(LiveEvent::decode(&text), Some(("node-a", event)));
        let bare = LiveEvent {
            kind: LiveKind::Message,
            conversation_id: None,
        };
        assert_eq!(
            LiveEvent::decode(&bare.encode("b")),
            Some(("b", bare.clone()))
        );
        assert_eq!(LiveEvent::decode("b nonsense -"), None);
        assert_eq!(LiveEvent::decode("b"), None);
    }

    #[tokio::test]
    async fn published_events_reach_the_relay_and_delivered_ones_do_not() {
        let (live, mut outgoing) = Live::with_relay();
        let mut here = live.subscribe();
        live.publish(LiveKind::Status, None);
        live.deliver(LiveEvent {
            kind: LiveKind::Message,
            conversation_id: None,
        });
        assert_eq!(
            here.recv().await.ok().map(|e| e.kind),
            Some(LiveKind::Status)
        );
        assert_eq!(
            here.recv().await.ok().map(|e| e.kind),
            Some(LiveKind::Message)
        );
        assert_eq!(
            outgoing.recv().await.map(|e| e.kind),
            Some(LiveKind::Status)
        );
        assert!(
            outgoing.try_recv().is_err(),
            "a delivered event is not relayed back"
        );
    }
}
