//! The route table, readable top to bottom, and the middleware that applies everywhere:
//! security headers, body limits, and a request log line that names the route template (never
//! the raw path, which carries ids) and the status.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::http::{AppState, api, webhook};

/// Longest a request may take, body upload included (100 MB media over a slow link fits).
const REQUEST_TIMEOUT: Duration = Duration::from_mins(2);

/// API bodies other than media uploads.
const API_BODY_LIMIT: usize = 256 * 1024;

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let webhook_limit = state.config.webhook_max_body_bytes;
    let media_limit = state.config.media_max_bytes.saturating_add(64 * 1024);
    let api = Router::new()
        .route("/conversations", get(api::list_conversations))
        .route(
            "/conversations/{id}/messages",
            get(api::list_messages)
                .post(api::send_message)
                .layer(DefaultBodyLimit::max(media_limit)),
        )
        .route("/conversations/{id}/read", post(api::mark_read))
        .route("/messages/{id}/media", get(api::download_media))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/webhooks/whatsapp",
            get(webhook::verify)
                .post(webhook::receive)
                .layer(DefaultBodyLimit::max(webhook_limit)),
        )
        .nest("/api/v1", api)
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        // A request (body included) that takes longer than this is cut off with 408.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(log_request))
        .layer(security_header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// One log line per request: method, route template, status, duration. No path, query or body.
async fn log_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(%method, %route, status = response.status().as_u16(), micros = started.elapsed().as_micros(), "request");
    response
}
