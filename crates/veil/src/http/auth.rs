//! `ApiToken`: a handler that takes one runs only for a valid, unrevoked bearer token. Tokens are
//! looked up by their SHA-256; the presented value is never stored or logged.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::http::AppState;

/// Proof that the request carried a valid API token; holds the token's id.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: String,
}

impl FromRequestParts<AppState> for ApiToken {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| t.len() <= 256)
            .ok_or(AppError::Unauthorized)?;
        let hash = veil_crypto::TokenHash::of(presented);
        let id = state
            .store
            .api_token_by_hash(&hash.0)
            .await?
            .ok_or(AppError::Unauthorized)?;
        Ok(Self { id })
    }
}
