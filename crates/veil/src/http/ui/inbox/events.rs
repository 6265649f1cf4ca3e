//! The live event stream (server-sent events) that tells open pages something changed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};

use crate::http::AppState;
use crate::identity::Principal;
use crate::inbox::ConversationScope;

/// How long one event stream lives before the browser reconnects (and the gate checks the
/// session again).
const STREAM_LIFETIME: Duration = Duration::from_mins(5);

/// `GET /inbox/events`: server-sent change signals. Agents limited to their own conversations get
/// no conversation ids, only kinds.
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let sees_all = matches!(principal.conversation_scope(), Some(ConversationScope::All));
    let receiver = state.live.subscribe();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let first = Event::default().event("ready").data("{}");
    let stream = futures_util::stream::unfold(
        (receiver, Some(first)),
        move |(mut receiver, first)| async move {
            if let Some(first) = first {
                return Some((Ok(first), (receiver, None)));
            }
            let next = tokio::time::timeout_at(deadline, receiver.recv()).await;
            let data = match next {
                Err(_) | Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                Ok(Ok(event)) => {
                    let conversation = event.conversation_id.filter(|_| sees_all);
                    serde_json::json!({"kind": event.kind.as_str(), "conversation": conversation})
                }
                // Missed some: tell the page to re-read everything.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    serde_json::json!({"kind": "resync", "conversation": null})
                }
            };
            let event = Event::default().event("change").data(data.to_string());
            Some((Ok(event), (receiver, None)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
