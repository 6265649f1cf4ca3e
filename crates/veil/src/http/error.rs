//! The one place errors become HTTP statuses. Clients get a stable code, a short message and a
//! request id; the detail goes to the log under that id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::AppError;
use crate::identity::AuthError;

/// The status and stable code of each error.
fn parts(e: &AppError) -> (StatusCode, &'static str) {
    match e {
        AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        AppError::WindowClosed => (StatusCode::UNPROCESSABLE_ENTITY, "window_closed"),
        AppError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        AppError::Unavailable(_) => (StatusCode::CONFLICT, "unavailable"),
        AppError::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        AppError::ReauthRequired => (StatusCode::FORBIDDEN, "reauth_required"),
        AppError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
        AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        AppError::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable"),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = parts(&self);
        let request_id = uuid::Uuid::now_v7().to_string();
        let message = match &self {
            AppError::Internal(detail) => {
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
        if let AppError::TooManyRequests(_, Some(secs)) = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// The status of a failed sign-in or account step (internal failures are logged here, once).
pub fn auth_status(e: &AuthError) -> StatusCode {
    match e {
        AuthError::Throttled(_) | AuthError::Busy => StatusCode::TOO_MANY_REQUESTS,
        AuthError::Password(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AuthError::NetworkDenied | AuthError::Forbidden => StatusCode::FORBIDDEN,
        // The entry could not be written, so nothing was done.
        AuthError::Audit => StatusCode::SERVICE_UNAVAILABLE,
        AuthError::Store(_) | AuthError::Keys(_) | AuthError::Internal(_) => {
            tracing::error!(error = %e, "sign-in step failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::UNAUTHORIZED,
    }
}
