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
    #[error("{0}")]
    TooManyRequests(String, Option<i64>),
    #[error("confirm your password and code first")]
    ReauthRequired,
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error")]
    Internal(String),
    /// The audit entry could not be written: the action did not happen, the data is not shown.
    #[error("the audit log is unavailable; nothing was done")]
    AuditUnavailable,
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
            Self::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::ReauthRequired => (StatusCode::FORBIDDEN, "reauth_required"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
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
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": message, "request_id": request_id}})),
        )
            .into_response();
        if let Self::TooManyRequests(_, Some(secs)) = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
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
            OutboundError::WindowWillClose { closes_at } => Self::Unprocessable(format!(
                "the 24-hour window closes at {closes_at} (Unix ms), before the scheduled time; \
                 set after_window to schedule it anyway"
            )),
            OutboundError::Invalid(why) => Self::BadRequest(why.to_owned()),
            OutboundError::Blocked(kinds) => Self::Unprocessable(format!(
                "refused by the guard ({}): send a payment link instead of card details, and never \
                 ask a customer for a card number, CVV or one-time code",
                kinds.join(", ")
            )),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<crate::desk::DeskError> for AppError {
    fn from(e: crate::desk::DeskError) -> Self {
        use crate::desk::DeskError as D;
        match e {
            D::NotFound => Self::NotFound,
            D::Forbidden => Self::Forbidden,
            D::Invalid(why) => Self::BadRequest(why.to_owned()),
            D::Auth(e) => e.into(),
            D::Store(e) => e.into(),
            D::Keys(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<crate::audit::AuditError> for AppError {
    fn from(_: crate::audit::AuditError) -> Self {
        Self::AuditUnavailable
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::identity::AuthError> for AppError {
    fn from(e: crate::identity::AuthError) -> Self {
        use crate::identity::AuthError as A;
        match e {
            A::InvalidCredentials | A::InvalidCode | A::NoSession | A::SecondFactorPending => {
                Self::Unauthorized
            }
            A::Throttled(secs) => Self::TooManyRequests(e.to_string(), Some(secs)),
            A::Busy => Self::TooManyRequests(e.to_string(), Some(1)),
            A::NetworkDenied | A::Forbidden => Self::Forbidden,
            A::ReauthRequired => Self::ReauthRequired,
            A::Invalid(why) => Self::BadRequest(why),
            A::NotFound => Self::NotFound,
            A::Password(why) => Self::Unprocessable(why.to_string()),
            A::Store(_) | A::Keys(_) | A::Internal(_) => Self::Internal(e.to_string()),
            A::Audit => Self::AuditUnavailable,
        }
    }
}
