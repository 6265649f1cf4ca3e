//! The route table, readable top to bottom, and the middleware that applies everywhere:
//! security headers, body limits, and a request log line that names the route template (never
//! the raw path, which carries ids) and the status.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::http::policy::{REQUEST_TIMEOUT, security_headers};
use crate::http::routes::{self, Limits};
use crate::http::{AppState, access};

/// API bodies other than media uploads.
const API_BODY_LIMIT: usize = 256 * 1024;

/// Builds the whole router from the route table; every route passes its gate first.
pub fn router(state: AppState) -> Router {
    let limits = Limits {
        webhook: state.config.webhook_max_body_bytes,
        media: state.config.media_max_bytes.saturating_add(64 * 1024),
    };
    let mut router = Router::new();
    for (spec, handler) in routes::table(limits) {
        let gate = middleware::from_fn_with_state((state.clone(), spec.gate), access::guard);
        router = router.route(spec.path, handler.route_layer(gate));
    }
    let router = router
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        // A request (body included) that takes longer than this is cut off with 408.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(log_request));
    let router = security_headers(state.config.tls())
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(name, value))
        });
    router.with_state(state)
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
