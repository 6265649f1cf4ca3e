//! The web inbox: the conversation list, one conversation with its contact panel, the composer,
//! and the live event stream. Pages are rendered on the server (askama escapes every value);
//! every action is a real form post (or a fetch, for file uploads) that passes the gate's CSRF
//! check, then redirects back. `static/inbox.js` only adds live updates and conveniences.

mod compose;
mod events;
mod media;
mod thread;
mod view;

pub use compose::*;
pub use events::events;
pub use media::{RELEASE_PERMISSION, media};
pub(crate) use view::Choice;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Csrf;
use crate::http::ui::layout::{Nav, iso, page_lang, render};
use crate::http::ui::text::neutralise;
use crate::i18n::{Arg, Lang};
use crate::identity::Principal;
use crate::inbox::ConversationView;
use crate::inbox::{ConversationScope, InboxFilter, UNREAD_CAP};
use thread::{Opened, thread_view};
use view::{EMOJI, InboxPage, Row, Tab};

/// Inbox query string: `view`, `status`, `label`, `q`.
#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    view: Option<String>,
    status: Option<String>,
    label: Option<String>,
    q: Option<String>,
    /// Earlier messages of the open conversation: those before this message (time and id).
    before: Option<i64>,
    before_id: Option<String>,
}

impl InboxQuery {
    fn filter(&self) -> InboxFilter {
        let pick = |value: &Option<String>, allowed: &[&str]| {
            value
                .as_deref()
                .filter(|v| allowed.contains(v))
                .unwrap_or("")
                .to_owned()
        };
        InboxFilter {
            view: pick(&self.view, &["mine", "unassigned", "team"]),
            status: pick(&self.status, &crate::inbox::desk::STATUSES),
            label: self
                .label
                .as_deref()
                .filter(|l| l.len() <= 64)
                .unwrap_or("")
                .to_owned(),
        }
    }

    fn query_string(&self) -> String {
        let filter = self.filter();
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("view", filter.view.as_str()),
            ("status", filter.status.as_str()),
            ("label", filter.label.as_str()),
            ("q", self.q.as_deref().unwrap_or("")),
        ] {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        let text = out.finish();
        if text.is_empty() {
            text
        } else {
            format!("?{text}")
        }
    }
}

fn scope_of(principal: &Principal) -> Result<ConversationScope, AppError> {
    principal.conversation_scope().ok_or(AppError::Forbidden)
}

fn me(principal: &Principal) -> String {
    principal.user().map(|u| u.id.clone()).unwrap_or_default()
}

fn window_texts(l: Lang, view: &ConversationView) -> (&'static str, String) {
    match (view.window.open, view.window.closes_at) {
        (true, Some(at)) => (
            "open",
            l.tr("window-closes", &[("time", Arg::Text(&l.datetime(at)))]),
        ),
        (true, None) => ("open", l.t("window-open")),
        _ => ("closed", l.t("window-closed")),
    }
}

fn status_text(l: Lang, status: &str) -> String {
    match status {
        "pending" => l.t("status-pending"),
        "resolved" => l.t("status-resolved"),
        _ => l.t("status-open"),
    }
}

fn shown_name(l: Lang, view: &ConversationView) -> String {
    if view.erased {
        return l.t("erased-customer");
    }
    view.display_name
        .as_deref()
        .map(neutralise)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| l.t("unknown-customer"))
}

/// The list, and the conversation `open` if any: the whole inbox page.
#[allow(
    clippy::too_many_lines,
    reason = "builds one page's view model field by field, top to bottom"
)]
async fn inbox_view(
    state: &AppState,
    principal: &Principal,
    l: Lang,
    csrf: &str,
    query: &InboxQuery,
    open: Option<(&str, Option<String>)>,
) -> Result<InboxPage, AppError> {
    let scope = scope_of(principal)?;
    let me = me(principal);
    let filter = query.filter();
    let search = query.q.as_deref().map_or("", str::trim);
    let views = if search.is_empty() {
        state.inbox.list(&scope, &me, &filter, 50).await?
    } else {
        state.inbox.search(&scope, &me, &filter, search, 50).await?
    };
    let counts = state.inbox.unread_counts(&scope, &me).await?;
    let qs = query.query_string();
    let open_id = open.as_ref().map(|(id, _)| *id);
    let rows = views
        .iter()
        .map(|v| {
            let (window_class, window_text) = window_texts(l, v);
            Row {
                href: format!("/inbox/c/{}{qs}", v.id),
                name: shown_name(l, v),
                masked: v.masked_number.clone().unwrap_or_default(),
                when: l.datetime(v.last_activity_at),
                when_iso: iso(v.last_activity_at),
                window_class,
                window_text,
                status_text: status_text(l, &v.status),
                unread: v.unread_count,
                unread_shown: l.number(v.unread_count),
                unread_text: l.tr("unread-count", &[("count", Arg::Count(v.unread_count))]),
                active: open_id == Some(v.id.as_str()),
                id: v.id.clone(),
            }
        })
        .collect();
    let tab_views: [(&'static str, &str, i64); 4] = [
        ("mine", "view-mine", counts.mine),
        ("unassigned", "view-unassigned", counts.unassigned),
        ("team", "view-team", counts.team),
        ("", "view-all", counts.all),
    ];
    let tabs = tab_views
        .into_iter()
        .map(|(view, key, count)| Tab {
            view,
            label: l.t(key),
            href: if view.is_empty() {
                "/inbox".into()
            } else {
                format!("/inbox?view={view}")
            },
            active: filter.view == view,
            count,
            count_shown: if count >= UNREAD_CAP {
                format!("{}+", l.number(UNREAD_CAP - 1))
            } else {
                l.number(count)
            },
            count_text: if count >= UNREAD_CAP {
                l.tr(
                    "unread-count-more",
                    &[("count", Arg::Count(UNREAD_CAP - 1))],
                )
            } else {
                l.tr("unread-count", &[("count", Arg::Count(count))])
            },
        })
        .collect();
    let all_labels = state.desk.labels().await?;
    let thread = match open {
        Some((id, revealed)) => {
            let opened = Opened {
                id,
                revealed,
                before: query.before.zip(query.before_id.as_deref()),
            };
            Some(thread_view(state, principal, l, &scope, opened, &all_labels).await?)
        }
        None => None,
    };
    let title = thread
        .as_ref()
        .map_or_else(|| l.t("inbox-title"), |t| t.name.clone());
    Ok(InboxPage {
        l,
        title,
        nav: Nav::load(state, principal, l, csrf, "inbox").await?,
        tabs,
        statuses: crate::inbox::desk::STATUSES
            .iter()
            .map(|s| (*s, status_text(l, s), filter.status == *s))
            .collect(),
        all_labels,
        rows,
        thread,
        back_href: format!("/inbox{qs}"),
        templates: state.config.whatsapp.templates.clone(),
        emoji: EMOJI,
        error: None,
        query: search.to_owned(),
        filter,
    })
}

/// `GET /inbox`
pub async fn inbox(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Query(query): Query<InboxQuery>,
) -> Result<Response, AppError> {
    let l = page_lang(&principal, &headers);
    let page = inbox_view(&state, &principal, l, &csrf, &query, None).await?;
    state
        .audited(&principal, "inbox.list", "conversations".into())
        .await?;
    Ok(render(StatusCode::OK, &page))
}

/// `GET /inbox/c/{id}`
pub async fn conversation(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<InboxQuery>,
) -> Result<Response, AppError> {
    let l = page_lang(&principal, &headers);
    // Recorded before the page is built: opening it also marks the conversation read.
    state
        .audited(
            &principal,
            crate::audit::alerts::VIEW_ACTION,
            format!("conversation:{id}"),
        )
        .await?;
    let page = inbox_view(&state, &principal, l, &csrf, &query, Some((&id, None))).await?;
    Ok(render(StatusCode::OK, &page))
}
