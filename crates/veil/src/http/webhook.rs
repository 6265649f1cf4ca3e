//! The WhatsApp webhook: the GET verification handshake and signed POSTs.
//!
//! POST order: size limit (413, before any work), signature over the raw bytes (401, nothing
//! stored), JSON shape (400), then ingest; 200 only once the data is durably committed. Never logs
//! a payload: payloads carry phone numbers and text.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::policy::{REQUEST_TIMEOUT, security_headers};
use crate::whatsapp::webhook::{WebhookItem, parse};

/// Where Meta posts.
pub const PATH: &str = "/webhooks/whatsapp";

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

/// `POST` through the router (the route table's entry). Served connections take [`Direct`].
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    store(&state, &headers, &body).await?;
    Ok(StatusCode::OK.into_response())
}

/// The webhook POST without the router: the edge hands it here before any middleware, since
/// none of the router's layers has work to do for it (no session, no cookie, no CSRF, no
/// page). What the layers give every answer is kept: the body limit (413 before it is read
/// whole), the request timeout (408) and the security headers. Profiled under load, the
/// router's layers and extractors cost more CPU than verifying the signature.
#[derive(Clone)]
pub struct Direct {
    state: AppState,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl Direct {
    pub fn new(state: AppState) -> Self {
        let headers = security_headers(state.config.tls()).into();
        Self { state, headers }
    }

    /// Whether `request` is a webhook POST.
    pub fn takes<B>(request: &axum::http::Request<B>) -> bool {
        request.method() == Method::POST && request.uri().path() == PATH
    }

    /// Reads the body within its limit and time, then stores it; answers like the route.
    pub async fn receive<B>(&self, request: axum::http::Request<B>) -> Response
    where
        B: axum::body::HttpBody<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = request.into_parts();
        let limited = Limited::new(body, self.state.config.webhook_max_body_bytes);
        let answer = match tokio::time::timeout(REQUEST_TIMEOUT, limited.collect()).await {
            Ok(Ok(body)) => match store(&self.state, &parts.headers, &body.to_bytes()).await {
                Ok(()) => StatusCode::OK.into_response(),
                Err(err) => err.into_response(),
            },
            Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
                AppError::PayloadTooLarge.into_response()
            }
            Ok(Err(_)) => StatusCode::BAD_REQUEST.into_response(),
            Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
        };
        let mut answer = answer;
        for (name, value) in self.headers.iter() {
            answer
                .headers_mut()
                .entry(name)
                .or_insert_with(|| value.clone());
        }
        tracing::debug!(
            method = "POST",
            route = PATH,
            status = answer.status().as_u16(),
            "request"
        );
        answer
    }
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("webhook::Direct")
    }
}

/// Verifies, parses and stores one webhook POST; `Ok` only once it is durably committed.
async fn store(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), AppError> {
    let secret = state.config.whatsapp.app_secret.expose_secret().as_bytes();
    let signature = headers
        .get("x-hub-signature-256")
        .map(axum::http::HeaderValue::as_bytes);
    if secret.is_empty() || veil_crypto::verify_hub_signature(secret, body, signature).is_err() {
        return Err(AppError::Unauthorized);
    }
    let items = parse(body).map_err(|e| AppError::BadRequest(e.to_string()))?;
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
    Ok(())
}
