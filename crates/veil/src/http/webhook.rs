//! The WhatsApp webhook: the GET verification handshake and signed POSTs.
//!
//! POST order: size limit (413, before any work), signature over the raw bytes (401, nothing
//! stored), JSON shape (400), then ingest; 200 only once the data is durably committed. Never logs
//! a payload: payloads carry phone numbers and text.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::http::AppState;
use crate::whatsapp::webhook::{WebhookItem, parse};

/// `GET`: answers Meta's `hub.challenge` when `hub.verify_token` matches.
pub async fn verify(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String, std::hash::RandomState>>,
) -> Response {
    let expected = state
        .config
        .whatsapp
        .verify_token
        .expose_secret()
        .as_bytes();
    let token_ok = query
        .get("hub.verify_token")
        .is_some_and(|t| !expected.is_empty() && bool::from(t.as_bytes().ct_eq(expected)));
    let mode_ok = query.get("hub.mode").map(String::as_str) == Some("subscribe");
    // The challenge is echoed, so only a short plain token is accepted (no reflected markup).
    let challenge = query.get("hub.challenge").filter(|c| {
        !c.is_empty()
            && c.len() <= 128
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    });
    match (token_ok && mode_ok, challenge) {
        (true, Some(challenge)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.clone(),
        )
            .into_response(),
        (true, None) => StatusCode::BAD_REQUEST.into_response(),
        (false, _) => StatusCode::FORBIDDEN.into_response(),
    }
}

/// `POST`: verifies, parses, stores, then answers.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let secret = state.config.whatsapp.app_secret.expose_secret().as_bytes();
    let signature = headers
        .get("x-hub-signature-256")
        .map(axum::http::HeaderValue::as_bytes);
    if secret.is_empty() || veil_crypto::verify_hub_signature(secret, &body, signature).is_err() {
        return Err(AppError::Unauthorized);
    }
    let items = parse(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let has_media = items
        .iter()
        .any(|i| matches!(i, WebhookItem::Message(m) if m.media.is_some()));
    let changes = items
        .iter()
        .fold((false, false), |(m, s), item| match item {
            WebhookItem::Message(_) => (true, s),
            WebhookItem::Status(_) => (m, true),
            WebhookItem::Event { .. } => (m, s),
        });
    state.ingestor.submit(items).await?;
    // Committed: open inboxes re-read what they show.
    if changes.0 {
        state
            .live
            .publish(crate::inbox::live::LiveKind::Message, None);
    }
    if changes.1 {
        state
            .live
            .publish(crate::inbox::live::LiveKind::Status, None);
    }
    if has_media {
        state.media_wakeup.notify_one();
    }
    Ok(StatusCode::OK.into_response())
}
