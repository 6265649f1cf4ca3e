//! The composer and the desk's forms: replies (now or later), templates, attachments, notes,
//! status, assignment, labels, revealing the number. Each posts, passes the gate, calls one domain
//! function, then redirects back or shows the conversation with the reason it was refused.

use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{InboxQuery, inbox_view, scope_of};
use crate::error::AppError;
use crate::guard::Kind;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::layout::{page_lang, render};
use crate::i18n::{Arg, Lang};
use crate::identity::Principal;
use crate::inbox::desk::expand_canned;
use crate::outbox::{OutboundError, OutboundRequest, SendAt};

fn back_to(id: &str) -> Response {
    Redirect::to(&format!("/inbox/c/{id}")).into_response()
}

impl Page {
    fn lang(&self) -> Lang {
        page_lang(&self.principal, &self.headers)
    }

    /// The conversation again, with `text` above the composer.
    async fn with_error(
        &self,
        id: &str,
        text: String,
        status: StatusCode,
    ) -> Result<Response, AppError> {
        let mut page = inbox_view(
            &self.state,
            &self.principal,
            self.lang(),
            &self.csrf,
            &InboxQuery::default(),
            Some((id, None)),
        )
        .await?;
        page.error = Some(text);
        Ok(render(status, &page))
    }

    /// After a desk action (note, status, assignment, labels): back to the conversation, or its
    /// page with the reason it was refused.
    async fn desk_done(
        &self,
        id: &str,
        outcome: Result<(), crate::inbox::desk::DeskError>,
    ) -> Result<Response, AppError> {
        use crate::inbox::desk::DeskError;
        let l = self.lang();
        let (status, text) = match outcome {
            Ok(()) => return Ok(back_to(id)),
            Err(DeskError::Invalid(why)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                l.tr("error-invalid", &[("why", Arg::Text(why))]),
            ),
            Err(DeskError::Forbidden) => (StatusCode::FORBIDDEN, l.t("error-forbidden")),
            Err(other) => return Err(other.into()),
        };
        self.with_error(id, text, status).await
    }

    /// Queues a message (screened by the guard), then back to the conversation, or its page with
    /// the reason the send was refused.
    async fn send(
        &self,
        id: &str,
        request: OutboundRequest,
        when: SendAt,
    ) -> Result<Response, AppError> {
        let scope = scope_of(&self.principal)?;
        self.state
            .audited(
                &self.principal,
                "message.send",
                format!("conversation:{id}"),
            )
            .await?;
        match self
            .state
            .enqueue_screened(&self.principal, id, &scope, request, when)
            .await?
        {
            Ok(_) => Ok(back_to(id)),
            Err(OutboundError::NotFound) => Err(AppError::NotFound),
            Err(e) => {
                let text = refusal(self.lang(), &e);
                self.with_error(id, text, StatusCode::UNPROCESSABLE_ENTITY)
                    .await
            }
        }
    }
}

/// Why a send was refused, in the agent's words.
fn refusal(l: Lang, error: &OutboundError) -> String {
    match error {
        OutboundError::WindowClosed => l.t("error-window-closed"),
        OutboundError::WindowWillClose { closes_at } => l.tr(
            "error-window-will-close",
            &[("time", Arg::Text(&l.datetime(*closes_at)))],
        ),
        OutboundError::Invalid(why) => l.tr("error-invalid", &[("why", Arg::Text(why))]),
        OutboundError::Blocked(kinds) => {
            let names: Vec<String> = kinds
                .iter()
                .map(|k| l.t(&format!("guard-kind-{k}")))
                .collect();
            let advice = if kinds
                .iter()
                .any(|k| k == Kind::CardNumber.as_str() || k == Kind::CardRequest.as_str())
            {
                l.t("guard-advice-card")
            } else if kinds.iter().any(|k| k == Kind::CodeRequest.as_str()) {
                l.t("guard-advice-code")
            } else {
                l.t("guard-advice-other")
            };
            l.tr(
                "guard-blocked",
                &[
                    ("kinds", Arg::Text(&names.join(", "))),
                    ("advice", Arg::Text(&advice)),
                ],
            )
        }
        _ => l.t("error-internal"),
    }
}

/// The composer's "send later" fields. `send_at_ms` is set by the page's script from the
/// browser's local time; without the script `send_at` (`YYYY-MM-DDTHH:MM`) is read as UTC.
#[derive(Debug, Default, Deserialize)]
pub struct Later {
    /// Set by the "Schedule" button.
    #[serde(default, rename = "later")]
    chosen: String,
    #[serde(default)]
    send_at: String,
    #[serde(default)]
    send_at_ms: String,
    #[serde(default)]
    after_window: String,
}

impl Later {
    fn when(&self) -> Result<SendAt, AppError> {
        if self.chosen.is_empty() {
            return Ok(SendAt::Now);
        }
        let bad = || AppError::BadRequest("choose a date and time to send at".into());
        let at = if let Ok(ms) = self.send_at_ms.trim().parse::<i64>() {
            ms
        } else {
            let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
            let local =
                time::PrimitiveDateTime::parse(self.send_at.trim(), format).map_err(|_| bad())?;
            let seconds = local.assume_utc().unix_timestamp();
            seconds.checked_mul(1000).ok_or_else(bad)?
        };
        Ok(SendAt::Later {
            at,
            after_window: !self.after_window.is_empty(),
        })
    }
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    canned: String,
    #[serde(flatten)]
    later: Later,
}

/// `POST /inbox/c/{id}/reply`: text, or a canned reply (placeholders filled) when the text is empty.
pub async fn reply(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, AppError> {
    let mut text = form.text.trim().to_owned();
    if text.is_empty() && !form.canned.is_empty() {
        let scope = scope_of(&page.principal)?;
        let view = page.state.inbox.conversation(&id, &scope).await?;
        let agent = page
            .principal
            .user()
            .map(|u| u.display_name.clone())
            .unwrap_or_default();
        if let Some(c) = page
            .state
            .desk
            .canned_replies()
            .await?
            .into_iter()
            .find(|c| c.id == form.canned)
        {
            text = expand_canned(&c.body, view.display_name.as_deref(), &agent);
        }
    }
    if text.is_empty() {
        return Ok(back_to(&id));
    }
    let request = OutboundRequest::Text {
        body: text,
        reply_to: None,
    };
    let when = form.later.when()?;
    page.send(&id, request, when).await
}

#[derive(Deserialize)]
pub struct TemplateForm {
    template: String,
    #[serde(default)]
    params: String,
    #[serde(flatten)]
    later: Later,
}

/// `POST /inbox/c/{id}/template`: one of the configured templates, parameters one per line.
pub async fn template(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<TemplateForm>,
) -> Result<Response, AppError> {
    if !page
        .state
        .config
        .whatsapp
        .templates
        .contains(&form.template)
    {
        return Err(AppError::BadRequest("unknown template".into()));
    }
    let (name, language) = form
        .template
        .split_once(':')
        .unwrap_or((form.template.as_str(), "en_US"));
    let request = OutboundRequest::Template {
        name: name.to_owned(),
        language: language.to_owned(),
        params: form
            .params
            .lines()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let when = form.later.when()?;
    page.send(&id, request, when).await
}

/// `POST /inbox/c/{id}/attach` (multipart `file`, `caption`; sent by the page's script with
/// `X-CSRF-Token`).
pub async fn attach(
    page: Page,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    // As in the API: one permit per upload being read, held until it is queued.
    let (_upload, outbound) = crate::http::api::conversations::upload(&page.state, request).await?;
    page.send(&id, outbound, SendAt::Now).await
}

/// `POST /inbox/c/{id}/cancel/{message_id}`: cancels a scheduled message not yet sent.
pub async fn cancel_scheduled(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    state.cancel_scheduled(&principal, &id, &message_id).await?;
    // Too late is not an error worth a page: the thread shows what happened to it.
    Ok(back_to(&id))
}

#[derive(Deserialize)]
pub struct NoteForm {
    body: String,
}

/// `POST /inbox/c/{id}/note`
pub async fn note(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .add_note(&page.principal, &id, &form.body)
        .await;
    page.desk_done(&id, outcome).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /inbox/c/{id}/status`: open, pending, resolved.
pub async fn set_status(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .set_status(&page.principal, &id, &form.status)
        .await;
    page.desk_done(&id, outcome).await
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    team: String,
}

/// `POST /inbox/c/{id}/assign`: to an agent, a team, both or neither.
pub async fn assign(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let outcome = page
        .state
        .desk
        .assign(
            &page.principal,
            &id,
            some(&form.assignee).as_deref(),
            some(&form.team).as_deref(),
        )
        .await;
    if outcome.is_err() {
        return page.desk_done(&id, outcome).await;
    }
    // The caller may no longer see it (an agent handing over); the list is always theirs.
    match page
        .state
        .inbox
        .conversation(&id, &scope_of(&page.principal)?)
        .await
    {
        Ok(_) => Ok(back_to(&id)),
        Err(_) => Ok(Redirect::to("/inbox").into_response()),
    }
}

/// `POST /inbox/c/{id}/labels`: the checked labels, all others off.
pub async fn set_labels(
    page: Page,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let checked: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "label")
        .map(|(_, v)| v.into_owned())
        .collect();
    let outcome = page
        .state
        .desk
        .set_labels(&page.principal, &id, &checked)
        .await;
    page.desk_done(&id, outcome).await
}

#[derive(Deserialize)]
pub struct LabelForm {
    name: String,
}

/// `POST /inbox/c/{id}/labels/new`: creates a label and puts it on the conversation.
pub async fn new_label(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<LabelForm>,
) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .add_label(&page.principal, &id, &form.name)
        .await;
    page.desk_done(&id, outcome).await
}

/// `POST /inbox/c/{id}/reveal`: the page again, with the full number; recorded.
pub async fn reveal(page: Page, Path(id): Path<String>) -> Result<Response, AppError> {
    let number =
        crate::http::api::people::reveal_and_record(&page.state, &page.principal, &id).await?;
    let view = inbox_view(
        &page.state,
        &page.principal,
        page.lang(),
        &page.csrf,
        &InboxQuery::default(),
        Some((&id, number)),
    )
    .await?;
    Ok(render(StatusCode::OK, &view))
}
