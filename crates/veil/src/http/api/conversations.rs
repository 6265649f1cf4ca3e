//! The JSON API for conversations (`/api/v1`), for scripts and the browser inbox. The gate has
//! checked the route's permission; each handler narrows to the conversations the caller may read
//! (an agent's own and their team's). Responses carry customer data and are never cached.

use crate::audit::alerts::VIEW_ACTION;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;
use crate::http::AppState;
use crate::identity::{Permission, Principal};
use crate::inbox::ConversationScope;
use crate::inbox::{ConversationView, MessageView};
use crate::outbox::{OutboundRequest, SendAt};

/// Paging parameters.
#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<i64>,
    before: Option<i64>,
    /// With `before`: the id of the last item already seen (a message, a conversation), so that
    /// items of the same millisecond are neither skipped nor repeated. Without it, `before` is
    /// a bare time: only items strictly older.
    before_id: Option<String>,
}

impl Page {
    /// The cursor: time and id (an empty id: strictly before the time).
    fn cursor(&self) -> Option<(i64, &str)> {
        self.before
            .map(|at| (at, self.before_id.as_deref().unwrap_or("")))
    }
}

#[derive(Serialize)]
struct ConversationJson {
    id: String,
    contact: ContactJson,
    assignee_id: Option<String>,
    team_id: Option<String>,
    status: String,
    unread_count: i64,
    last_activity_at: i64,
    window: WindowJson,
}

#[derive(Serialize)]
struct ContactJson {
    id: String,
    display_name: Option<String>,
    masked_number: Option<String>,
    erased: bool,
}

#[derive(Serialize)]
struct WindowJson {
    open: bool,
    closes_at: Option<i64>,
}

impl From<ConversationView> for ConversationJson {
    fn from(v: ConversationView) -> Self {
        Self {
            contact: ContactJson {
                id: v.contact_id,
                display_name: v.display_name,
                masked_number: v.masked_number,
                erased: v.erased,
            },
            window: WindowJson {
                open: v.window.open,
                closes_at: v.window.closes_at,
            },
            id: v.id,
            assignee_id: v.assignee_id,
            team_id: v.team_id,
            status: v.status,
            unread_count: v.unread_count,
            last_activity_at: v.last_activity_at,
        }
    }
}

#[derive(Serialize)]
struct MessageJson {
    id: String,
    wamid: Option<String>,
    direction: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    detail: Option<Value>,
    template: Option<Value>,
    /// What the guard found and did: kinds, offsets into `text`/`caption`, actions, reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    guard: Option<crate::guard::Verdict>,
    content_available: bool,
    reply_to: Option<String>,
    media: Option<MediaJson>,
    status: String,
    error: Option<ErrorJson>,
    timestamp: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Serialize)]
struct MediaJson {
    state: String,
    url: String,
}

#[derive(Serialize)]
struct ErrorJson {
    code: i64,
    title: Option<String>,
}

impl From<MessageView> for MessageJson {
    fn from(v: MessageView) -> Self {
        let row = v.row;
        let content = v.content.clone().unwrap_or_default();
        Self {
            media: row.media_state.clone().map(|state| MediaJson {
                state,
                url: format!("/api/v1/messages/{}/media", row.id),
            }),
            error: row.error_code.map(|code| ErrorJson {
                code,
                title: row.error_title.clone(),
            }),
            content_available: v.content.is_some(),
            text: content.text,
            caption: content.caption,
            filename: content.filename,
            detail: content.detail,
            template: content.template,
            guard: content.guard,
            id: row.id,
            wamid: row.wamid,
            direction: row.direction,
            kind: row.kind,
            reply_to: row.context_wamid,
            status: row.status,
            timestamp: row.sent_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The conversations the caller may read; none at all is a 403.
fn scope(principal: &Principal) -> Result<ConversationScope, AppError> {
    principal.conversation_scope().ok_or(AppError::Forbidden)
}

/// `GET /api/v1/conversations`: newest activity first.
pub async fn list_conversations(
    principal: Principal,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Response, AppError> {
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let views = state
        .inbox
        .conversations(&scope(&principal)?, limit, page.cursor())
        .await?;
    state
        .audited(&principal, "inbox.list", "conversations".into())
        .await?;
    // The next page's cursor, when this one is full.
    let next = views
        .last()
        .filter(|_| views.len() >= usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|v| serde_json::json!({"before": v.last_activity_at, "before_id": v.id}));
    let body: Vec<ConversationJson> = views.into_iter().map(Into::into).collect();
    Ok(Json(serde_json::json!({"conversations": body, "next": next})).into_response())
}

/// `GET /api/v1/conversations/{id}/messages`: oldest first within the page.
pub async fn list_messages(
    principal: Principal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, AppError> {
    let scope = scope(&principal)?;
    let conversation = state.inbox.conversation(&id, &scope).await?;
    let messages = state
        .inbox
        .messages(
            &id,
            &scope,
            page.limit.unwrap_or(100),
            page.before,
            page.before_id.as_deref(),
            principal.can(Permission::ContactRevealPhone),
        )
        .await?;
    state
        .audited(&principal, VIEW_ACTION, format!("conversation:{id}"))
        .await?;
    // The cursor of the older page, when this one is full (messages are oldest first).
    let limit = usize::try_from(page.limit.unwrap_or(100).clamp(1, 500)).unwrap_or(500);
    let next = messages
        .first()
        .filter(|_| messages.len() >= limit)
        .map(|m| serde_json::json!({"before": m.row.created_at, "before_id": m.row.id}));
    let body: Vec<MessageJson> = messages.into_iter().map(Into::into).collect();
    Ok(Json(serde_json::json!({
        "conversation": ConversationJson::from(conversation),
        "messages": body,
        "next": next,
    }))
    .into_response())
}

/// `POST /api/v1/conversations/{id}/read`: clears the unread count.
pub async fn mark_read(
    principal: Principal,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let scope = scope(&principal)?;
    state
        .audited(
            &principal,
            "conversation.read",
            format!("conversation:{id}"),
        )
        .await?;
    state.inbox.mark_read(&id, &scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// JSON body of a send: `{"text": …}` or `{"template": {"name", "language", "params"}}`, and
/// optionally `send_at` (Unix ms) to schedule it, with `after_window: true` to schedule a
/// free-form message past the end of the 24-hour window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendJson {
    text: Option<String>,
    reply_to: Option<String>,
    template: Option<TemplateJson>,
    send_at: Option<i64>,
    #[serde(default)]
    after_window: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateJson {
    name: String,
    language: String,
    #[serde(default)]
    params: Vec<String>,
}

/// `POST /api/v1/conversations/{id}/messages`: JSON (text or template) or multipart (`file`,
/// optional `caption`). Answers 202 with the message id once the send is durably queued.
pub async fn send_message(
    principal: Principal,
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut when = SendAt::Now;
    let mut _upload = None;
    let outbound = if is_multipart {
        let (permit, outbound) = upload(&state, request).await?;
        _upload = Some(permit);
        outbound
    } else {
        let Json(body) = Json::<SendJson>::from_request(request, &state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        if let Some(at) = body.send_at {
            when = SendAt::Later {
                at,
                after_window: body.after_window,
            };
        }
        match (body.text, body.template) {
            (Some(text), None) => OutboundRequest::Text {
                body: text,
                reply_to: body.reply_to,
            },
            (None, Some(t)) => OutboundRequest::Template {
                name: t.name,
                language: t.language,
                params: t.params,
            },
            _ => {
                return Err(AppError::BadRequest(
                    "send either `text` or `template`".into(),
                ));
            }
        }
    };
    let scope = scope(&principal)?;
    state
        .audited(&principal, "message.send", format!("conversation:{id}"))
        .await?;
    let message_id = state
        .enqueue_screened(&principal, &id, &scope, outbound, when)
        .await??;
    let status = if when == SendAt::Now {
        "queued"
    } else {
        "scheduled"
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"id": message_id, "status": status})),
    )
        .into_response())
}

/// `POST /api/v1/conversations/{id}/messages/{message_id}/cancel`: cancels a scheduled message
/// that has not gone out yet (409 when it has).
pub async fn cancel_scheduled(
    principal: Principal,
    State(state): State<AppState>,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    if state.cancel_scheduled(&principal, &id, &message_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::Unavailable(
            "not a scheduled message, or it has already gone out".into(),
        ))
    }
}

/// Reads an upload once a permit is free. The permit is taken before the body is read and held
/// (by the caller) until the file is sealed and queued: memory is bounded by the permits, not by
/// how many agents upload at once.
pub(crate) async fn upload(
    state: &AppState,
    request: Request,
) -> Result<(tokio::sync::OwnedSemaphorePermit, OutboundRequest), AppError> {
    let permit = state
        .uploads
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| AppError::Unavailable("shutting down".into()))?;
    let hint = declared_size(request.headers(), state.config.media_max_bytes);
    let multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?;
    Ok((permit, media_request(multipart, hint).await?))
}

/// The declared body size of a request (for reserving an upload's buffer once), at most `cap`.
pub(crate) fn declared_size(headers: &axum::http::HeaderMap, cap: usize) -> usize {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(cap)
}

/// Reads a multipart send (`file`, `caption`); `size_hint` (the body's declared size) reserves
/// the file's buffer once, so a large file is never copied while it grows.
pub(crate) async fn media_request(
    mut multipart: Multipart,
    size_hint: usize,
) -> Result<OutboundRequest, AppError> {
    let mut file = None;
    let mut caption = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let mime = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let filename = sanitize_filename(field.file_name().unwrap_or("file"));
                // Room for the sealed file's header and tag too: it is sealed in this buffer.
                let mut bytes = Vec::with_capacity(size_hint.saturating_add(64));
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| AppError::BadRequest(e.body_text()))?
                {
                    bytes.extend_from_slice(&chunk);
                }
                file = Some((bytes, mime, filename));
            }
            "caption" => {
                caption = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| AppError::BadRequest(e.body_text()))?,
                );
            }
            _ => {}
        }
    }
    let (bytes, mime, filename) =
        file.ok_or_else(|| AppError::BadRequest("a `file` part is required".into()))?;
    Ok(OutboundRequest::Media {
        bytes,
        mime,
        filename,
        caption,
    })
}

/// Keeps a file name printable: no path, no control or bidirectional-override characters.
fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| {
            !c.is_control()
                && !crate::http::ui::text::overrides_direction(*c)
                && !matches!(c, '\u{200E}' | '\u{200F}')
        })
        .take(200)
        .collect();
    if clean.trim().is_empty() {
        "file".into()
    } else {
        clean
    }
}

/// `GET /api/v1/messages/{id}/media`: the decrypted file, as an attachment that never renders inline.
pub async fn download_media(
    principal: Principal,
    State(state): State<AppState>,
    Path(message_id): Path<String>,
) -> Result<Response, AppError> {
    let (mime, bytes) = state
        .inbox
        .media(&message_id, &scope(&principal)?, false)
        .await?;
    state
        .audited(
            &principal,
            "media.download",
            format!("message:{message_id}"),
        )
        .await?;
    let mime = if mime.chars().all(|c| c.is_ascii_graphic()) {
        mime
    } else {
        "application/octet-stream".into()
    };
    Ok(media_response(mime, &bytes, false))
}

/// Decrypted media as a response: sandboxed always, shown inline only when `inline` (the caller
/// decides which types may be), a download otherwise.
pub(crate) fn media_response(mime: String, bytes: &[u8], inline: bool) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CONTENT_DISPOSITION,
                if inline { "inline" } else { "attachment" }.to_owned(),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_owned(),
            ),
        ],
        bytes.to_vec(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::sanitize_filename;

    #[test]
    fn file_names_lose_paths_and_direction_overrides() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            sanitize_filename("invoice\u{202E}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_filename("a\nb"), "ab");
        assert_eq!(sanitize_filename(""), "file");
    }
}
