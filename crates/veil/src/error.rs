//! `AppError`: what a request to Veil can fail with, whatever the edge. The domain errors convert
//! into it here; `http::error` is the one place that maps it (and sign-in failures) to statuses.
//! The typed errors carry ids only, never customer content.

use crate::inbound::IngestError;
use crate::inbox::InboxError;
use crate::outbox::OutboundError;

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

impl From<crate::inbox::desk::DeskError> for AppError {
    fn from(e: crate::inbox::desk::DeskError) -> Self {
        use crate::inbox::desk::DeskError as D;
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
