//! `AppError` and the one place that maps errors to HTTP statuses.
//!
//! Clients get a stable code, a short message and a request id; the detail goes to the log under
//! that id. Detail never contains customer content (the typed errors below carry ids only).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::inbound::IngestError;
use crate::inbox::InboxError;
use crate::outbound::OutboundError;

/// Every error an HTTP handler can return.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("the 24-hour customer-service window is closed; send a template")]
    WindowClosed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::WindowClosed => (StatusCode::UNPROCESSABLE_ENTITY, "window_closed"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unavailable(_) => (StatusCode::CONFLICT, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let request_id = uuid::Uuid::now_v7().to_string();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(request_id = %request_id, detail = %detail, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": message, "request_id": request_id}})),
        )
            .into_response()
    }
}

impl From<IngestError> for AppError {
    fn from(e: IngestError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<InboxError> for AppError {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::NotFound => Self::NotFound,
            InboxError::MediaUnavailable(state) => Self::Unavailable(format!("media is {state}")),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<OutboundError> for AppError {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::NotFound => Self::NotFound,
            OutboundError::WindowClosed => Self::WindowClosed,
            OutboundError::Invalid(why) => Self::BadRequest(why.to_owned()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}
