//! Files in a conversation, decrypted for a reader: raster images inline, all else a download.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::scope_of;
use crate::error::AppError;
use crate::http::AppState;
use crate::identity::{Permission, Principal};

#[derive(Deserialize)]
pub struct MediaQuery {
    download: Option<String>,
    /// An admin's confirmed download of a quarantined file.
    release: Option<String>,
}

/// Who may download a file the guard quarantined (after a warning).
pub const RELEASE_PERMISSION: Permission = Permission::PolicyManage;

/// Types a browser may show inline from us: raster images only (never SVG, HTML or PDF).
const INLINE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/gif"];

/// `GET /inbox/media/{message_id}`: decrypted for a caller who may read the conversation;
/// raster images inline, everything else as a download, always sandboxed.
pub async fn media(
    State(state): State<AppState>,
    principal: Principal,
    Path(message_id): Path<String>,
    Query(query): Query<MediaQuery>,
) -> Result<Response, AppError> {
    let release = query.release.is_some();
    if release && !principal.can(RELEASE_PERMISSION) {
        return Err(AppError::Forbidden);
    }
    let (mime, bytes) = state
        .inbox
        .media(&message_id, &scope_of(&principal)?, release)
        .await?;
    state
        .audited(
            &principal,
            if release {
                "media.release"
            } else {
                "media.download"
            },
            format!("message:{message_id}"),
        )
        .await?;
    let inline = !release && query.download.is_none() && INLINE_TYPES.contains(&mime.as_str());
    let mime = if inline {
        mime
    } else {
        "application/octet-stream".into()
    };
    Ok(crate::http::api::conversations::media_response(
        mime, &bytes, inline,
    ))
}
