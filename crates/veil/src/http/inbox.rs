//! The web inbox: the conversation list, one conversation with its contact panel, the composer,
//! and the live event stream. Pages are rendered on the server (askama escapes every value);
//! every action is a real form post (or a fetch, for file uploads) that passes the gate's CSRF
//! check, then redirects back. `static/inbox.js` only adds live updates and conveniences.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Csrf;
use crate::http::render::{Span, file_name, format_text, neutralise};
use crate::i18n::{Arg, Lang};
use crate::identity::UserRow;
use crate::identity::{Permission, Principal, Role};
use crate::inbox::desk::expand_canned;
use crate::inbox::{ConversationScope, InboxFilter, UNREAD_CAP};
use crate::inbox::{ConversationView, MessageView};
use crate::outbox::{OutboundError, OutboundRequest, SendAt};

/// The top bar of every signed-in page.
pub struct Nav {
    pub csrf: String,
    pub user_name: String,
    pub admin: bool,
    pub audit: bool,
    /// Alerts nobody has acknowledged yet, for those who handle them (else 0).
    pub alerts: i64,
    pub alerts_shown: String,
    pub active: &'static str,
}

impl Nav {
    pub async fn load(
        state: &AppState,
        principal: &Principal,
        l: Lang,
        csrf: &str,
        active: &'static str,
    ) -> Result<Self, AppError> {
        let alerts = if principal.can(crate::http::admin_pages::ALERTS_PERMISSION) {
            state.alerter.count_open_alerts().await?
        } else {
            0
        };
        Ok(Self {
            csrf: csrf.to_owned(),
            user_name: principal
                .user()
                .map(|u| u.display_name.clone())
                .unwrap_or_default(),
            admin: crate::http::admin_pages::opens_any(principal),
            audit: principal.can(Permission::AuditRead),
            alerts,
            alerts_shown: l.number(alerts),
            active,
        })
    }
}

/// The language of a page: the user's choice, else the browser's.
pub fn lang_of(user: Option<&UserRow>, headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    match user {
        Some(user) => Lang::for_user(&user.language, accept),
        None => Lang::negotiate(accept),
    }
}

pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `2026-11-21T10:00:00Z`, for `<time datetime>` (the script shows it in local time).
pub fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

struct Tab {
    view: &'static str,
    label: String,
    href: String,
    active: bool,
    count: i64,
    count_shown: String,
    count_text: String,
}

struct Row {
    id: String,
    href: String,
    name: String,
    masked: String,
    when: String,
    when_iso: String,
    window_class: &'static str,
    window_text: String,
    status_text: String,
    unread: i64,
    unread_shown: String,
    unread_text: String,
    active: bool,
}

struct Tick {
    status: String,
    symbol: &'static str,
    label: String,
}

#[allow(
    clippy::struct_excessive_bools,
    reason = "a view model: each flag shows or hides one part of the page"
)]
struct MediaItem {
    url: String,
    inline: bool,
    available: bool,
    /// The guard quarantined it; `release`: this viewer may download it after a warning.
    quarantined: bool,
    release: bool,
    filename: String,
    alt: String,
    state_text: String,
}

struct Card {
    name: String,
    phones: Vec<String>,
}

struct Location {
    name: String,
    address: String,
    coordinates: String,
    map_url: String,
}

/// The guard's note on one message: its risk, one line per finding kind, and the kinds (for
/// tests and styling).
struct GuardNote {
    risk: &'static str,
    kinds: String,
    lines: Vec<String>,
}

/// The guard's note for a stored verdict, and the reasons of flagged links written into the
/// body's link spans (matched by the link text inside the flagged range).
fn guard_note(
    l: Lang,
    verdict: &crate::guard::Verdict,
    text: &str,
    body: &mut [Span],
) -> Option<GuardNote> {
    use crate::guard::policy::Action;
    let shown: Vec<&crate::guard::policy::Decided> = verdict
        .all()
        .filter(|d| d.action != Action::Allow)
        .collect();
    if shown.is_empty() {
        return None;
    }
    let mut kinds: Vec<&str> = shown.iter().map(|d| d.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let reasons_of = |d: &crate::guard::policy::Decided| {
        d.reasons
            .iter()
            .map(|r| l.t(&format!("guard-reason-{r}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines = kinds
        .iter()
        .map(|kind| {
            let first = shown.iter().find(|d| d.kind == *kind);
            let action = first.map_or(String::new(), |d| {
                l.t(&format!("guard-action-{}", d.action.as_str()))
            });
            let reasons = first.map(|d| reasons_of(d)).unwrap_or_default();
            let mut line = format!("{} ({action})", l.t(&format!("guard-kind-{kind}")));
            if !reasons.is_empty() {
                line.push_str(": ");
                line.push_str(&reasons);
            }
            line
        })
        .collect();
    for d in verdict
        .text
        .iter()
        .filter(|d| d.kind == "phishing_url" || d.kind == "suspicious_url")
    {
        let Some(flagged) = text.get(d.start..d.end) else {
            continue;
        };
        for span in body.iter_mut().filter(|s| s.link.is_some()) {
            if flagged.contains(span.text.as_str()) || span.text.contains(flagged) {
                span.flag = Some(reasons_of(d));
            }
        }
    }
    Some(GuardNote {
        risk: verdict.risk.as_str(),
        kinds: kinds.join(" "),
        lines,
    })
}

struct Item {
    id: String,
    side: &'static str,
    kind: String,
    author: Option<String>,
    quoted: Option<String>,
    kind_label: Option<String>,
    media: Option<MediaItem>,
    body: Vec<Span>,
    /// What the guard found, when an agent should see it.
    guard: Option<GuardNote>,
    cards: Vec<Card>,
    location: Option<Location>,
    notice: Option<String>,
    when: String,
    when_iso: String,
    at: i64,
    tick: Option<Tick>,
    failure: Option<String>,
    /// A scheduled message that has not gone out yet (can be cancelled).
    scheduled: bool,
}

/// One option of a select or checkbox list (agents, teams, labels).
pub(crate) struct Choice {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) selected: bool,
}

struct Canned {
    id: String,
    shortcut: String,
    text: String,
}

#[allow(
    clippy::struct_excessive_bools,
    reason = "a view model: each flag shows or hides one part of the page"
)]
struct Thread {
    id: String,
    name: String,
    masked: String,
    revealed: Option<String>,
    window_open: bool,
    window_class: &'static str,
    window_text: String,
    status: String,
    status_text: String,
    items: Vec<Item>,
    composer_mode: &'static str,
    can_reply: bool,
    can_reveal: bool,
    can_assign: bool,
    assignee_name: String,
    agents: Vec<Choice>,
    teams: Vec<Choice>,
    labels: Vec<Choice>,
    canned: Vec<Canned>,
    /// Link to the messages before the oldest shown, when there are more.
    earlier_href: Option<String>,
    /// Showing an earlier part: link back to the newest.
    latest_href: Option<String>,
    /// When the 24-hour window closes (Unix ms, 0: closed or never opened), for the composer's
    /// scheduling warning.
    window_closes_ms: i64,
    window_closes_note: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    l: Lang,
    title: String,
    nav: Nav,
    tabs: Vec<Tab>,
    filter: InboxFilter,
    query: String,
    statuses: Vec<(&'static str, String, bool)>,
    all_labels: Vec<crate::inbox::LabelRow>,
    rows: Vec<Row>,
    thread: Option<Thread>,
    back_href: String,
    templates: Vec<String>,
    emoji: &'static [&'static str],
    /// Why the last action was refused, shown above the composer.
    error: Option<String>,
}

const EMOJI: &[&str] = &[
    "😀", "🙂", "😉", "😊", "🙏", "👍", "👋", "🎉", "❤️", "✅", "📦", "🚚", "⏳", "📞", "💬", "🙌",
];

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

/// Messages the conversation page shows at once; older ones are a link away.
const THREAD_PAGE: usize = 200;

/// The conversation a page shows, and which part of it.
struct Opened<'a> {
    id: &'a str,
    revealed: Option<String>,
    /// Show the messages before this one (time, id) instead of the newest.
    before: Option<(i64, &'a str)>,
}

#[allow(
    clippy::too_many_lines,
    reason = "builds one page's view model field by field, top to bottom"
)]
async fn thread_view(
    state: &AppState,
    principal: &Principal,
    l: Lang,
    scope: &ConversationScope,
    opened: Opened<'_>,
    all_labels: &[crate::inbox::LabelRow],
) -> Result<Thread, AppError> {
    let Opened {
        id,
        revealed,
        before,
    } = opened;
    let view = state.inbox.conversation(id, scope).await?;
    let can_reply = principal.can(Permission::ConversationReply);
    if view.unread_count > 0 && can_reply {
        state.inbox.mark_read(id, scope).await?;
    }
    let messages = state
        .inbox
        .messages(
            id,
            scope,
            i64::try_from(THREAD_PAGE).unwrap_or(200),
            before.map(|(at, _)| at),
            before.map(|(_, id)| id),
            principal.can(Permission::ContactRevealPhone),
        )
        .await?;
    // The page's time span: notes are shown where they fall within it.
    let oldest = messages
        .iter()
        .min_by_key(|m| (m.row.created_at, m.row.id.clone()));
    let earlier_href = oldest.filter(|_| messages.len() >= THREAD_PAGE).map(|m| {
        format!(
            "/inbox/c/{id}?before={}&before_id={}",
            m.row.created_at, m.row.id
        )
    });
    let from = oldest
        .filter(|_| messages.len() >= THREAD_PAGE)
        .map_or(i64::MIN, |m| m.row.created_at);
    let until = before.map_or(i64::MAX, |(at, _)| at);
    let notes: Vec<_> = state
        .desk
        .notes(principal, id)
        .await?
        .into_iter()
        .filter(|n| n.created_at >= from && n.created_at <= until)
        .collect();
    let name = shown_name(l, &view);
    let agent_name = principal
        .user()
        .map(|u| u.display_name.clone())
        .unwrap_or_default();
    // Short text of each message by wamid, for quoted replies and reactions.
    let by_wamid: HashMap<String, String> = messages
        .iter()
        .filter_map(|m| {
            let wamid = m.row.wamid.clone()?;
            let c = m.content.as_ref()?;
            let text = c.text.clone().or_else(|| c.caption.clone())?;
            Some((wamid, neutralise(&text).chars().take(120).collect()))
        })
        .collect();
    let now = state.clock.now_ms();
    let mut items: Vec<Item> = messages
        .iter()
        .map(|m| item_of(l, m, &by_wamid, now))
        .collect();
    if principal.can(RELEASE_PERMISSION) {
        for media in items.iter_mut().filter_map(|i| i.media.as_mut()) {
            media.release = media.quarantined;
        }
    }
    items.extend(notes.into_iter().map(|n| {
        Item {
            side: "note",
            kind: "note".into(),
            author: Some(l.tr("internal-note-by", &[("name", Arg::Text(&n.author_name))])),
            quoted: None,
            kind_label: None,
            media: None,
            body: n
                .body
                .as_deref()
                .map_or_else(|| plain(&l.t("content-erased")), format_text),
            guard: None,
            cards: Vec::new(),
            location: None,
            notice: None,
            when: l.datetime(n.created_at),
            when_iso: iso(n.created_at),
            at: n.created_at,
            tick: None,
            failure: None,
            scheduled: false,
            id: n.id,
        }
    }));
    items.sort_by_key(|i| i.at);
    let (window_class, window_text) = window_texts(l, &view);
    let can_assign = principal.can(Permission::ConversationAssign);
    let users = state.identity.list_users().await?;
    let assignee_name = view
        .assignee_id
        .as_ref()
        .and_then(|a| users.iter().find(|u| &u.id == a))
        .map_or_else(|| l.t("nobody"), |u| u.display_name.clone());
    let agents = users
        .iter()
        .filter(|u| u.status == crate::identity::STATUS_ACTIVE)
        .filter(|u| {
            Role::parse(&u.role).is_some_and(|r| {
                let p = r.permissions();
                p.contains(Permission::ConversationReadAll)
                    || p.contains(Permission::ConversationReadAssigned)
            })
        })
        .map(|u| Choice {
            selected: view.assignee_id.as_deref() == Some(u.id.as_str()),
            id: u.id.clone(),
            name: u.display_name.clone(),
        })
        .collect();
    let teams = state
        .identity
        .list_teams()
        .await?
        .into_iter()
        .map(|t| Choice {
            selected: view.team_id.as_deref() == Some(t.id.as_str()),
            id: t.id,
            name: t.name,
        })
        .collect();
    let on: Vec<String> = state
        .desk
        .labels_of(id)
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let labels = all_labels
        .iter()
        .map(|lb| Choice {
            selected: on.contains(&lb.id),
            id: lb.id.clone(),
            name: lb.name.clone(),
        })
        .collect();
    let canned = state
        .desk
        .canned_replies()
        .await?
        .into_iter()
        .map(|c| Canned {
            text: expand_canned(&c.body, view.display_name.as_deref(), &agent_name),
            id: c.id,
            shortcut: c.shortcut,
        })
        .collect();
    Ok(Thread {
        id: view.id.clone(),
        masked: view.masked_number.clone().unwrap_or_default(),
        revealed,
        window_open: view.window.open,
        window_class,
        window_text,
        status_text: status_text(l, &view.status),
        status: view.status.clone(),
        items,
        composer_mode: if !can_reply {
            "none"
        } else if view.window.open {
            "text"
        } else {
            "template"
        },
        can_reply,
        can_reveal: principal.can(Permission::ContactRevealPhone),
        can_assign,
        assignee_name,
        agents,
        teams,
        labels,
        canned,
        name,
        earlier_href,
        latest_href: before.map(|_| format!("/inbox/c/{id}")),
        window_closes_ms: view
            .window
            .closes_at
            .filter(|_| view.window.open)
            .unwrap_or(0),
        window_closes_note: view
            .window
            .closes_at
            .map(|at| l.tr("window-closes-at", &[("time", Arg::Text(&l.datetime(at)))]))
            .unwrap_or_default(),
    })
}

fn plain(text: &str) -> Vec<Span> {
    vec![Span {
        text: text.to_owned(),
        class: String::new(),
        link: None,
        flag: None,
    }]
}

fn str_at<'a>(value: Option<&'a serde_json::Value>, path: &[&str]) -> Option<&'a str> {
    let mut v = value?;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str()
}

fn tick_of(l: Lang, status: &str) -> Tick {
    let (symbol, key) = match status {
        "queued" | "sending" | "ambiguous" => ("🕓", "tick-queued"),
        "accepted" => ("✓", "tick-accepted"),
        "sent" => ("✓", "tick-sent"),
        "delivered" => ("✓✓", "tick-delivered"),
        "read" => ("✓✓", "tick-read"),
        "played" => ("✓✓", "tick-played"),
        "failed" => ("⚠", "tick-failed"),
        "scheduled" => ("⏰", "tick-scheduled"),
        "cancelled" => ("✕", "tick-cancelled"),
        _ => ("·", "tick-queued"),
    };
    Tick {
        status: status.to_owned(),
        symbol,
        label: l.t(key),
    }
}

/// One message as the page shows it.
#[allow(
    clippy::too_many_lines,
    reason = "builds one page's view model field by field, top to bottom"
)]
fn item_of(l: Lang, m: &MessageView, by_wamid: &HashMap<String, String>, now: i64) -> Item {
    let row = &m.row;
    let outbound = row.direction == "out";
    // A scheduled message whose time has come is on its way: shown as queued.
    let scheduled = row.status == "scheduled" && row.sent_at > now;
    let status = if row.status == "scheduled" && !scheduled {
        "queued"
    } else {
        row.status.as_str()
    };
    let mut item = Item {
        id: row.id.clone(),
        side: if outbound { "out" } else { "in" },
        kind: row.kind.clone(),
        author: outbound.then(|| l.t("you")),
        quoted: row.context_wamid.as_ref().map(|w| {
            by_wamid
                .get(w)
                .cloned()
                .unwrap_or_else(|| l.t("replying-to-earlier"))
        }),
        kind_label: None,
        media: None,
        body: Vec::new(),
        guard: None,
        cards: Vec::new(),
        location: None,
        notice: None,
        when: l.datetime(row.sent_at),
        when_iso: iso(row.sent_at),
        at: row.sent_at,
        tick: outbound.then(|| tick_of(l, status)),
        scheduled,
        failure: (row.status == "failed").then(|| {
            let reason = match (&row.error_title, row.error_code) {
                (Some(title), Some(code)) => format!("{} ({code})", neutralise(title)),
                (Some(title), None) => neutralise(title),
                (None, Some(code)) => code.to_string(),
                (None, None) => "?".into(),
            };
            l.tr("failed-reason", &[("reason", Arg::Text(&reason))])
        }),
    };
    let Some(content) = m.content.as_ref() else {
        item.notice = Some(l.t("content-erased"));
        return item;
    };
    let detail = content.detail.as_ref();
    match row.kind.as_str() {
        "text" | "button" | "system" => {
            item.body = format_text(content.text.as_deref().unwrap_or(""));
            if row.kind == "button" {
                item.kind_label = Some(l.t("kind-button"));
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            item.kind_label = Some(l.t(&format!("kind-{}", row.kind)));
            let state = row.media_state.as_deref().unwrap_or("none");
            let is_image = matches!(row.kind.as_str(), "image" | "sticker");
            item.media = Some(MediaItem {
                url: format!("/inbox/media/{}", row.id),
                inline: is_image && state == "stored",
                available: state == "stored",
                quarantined: state == "quarantined",
                release: false,
                filename: file_name(content.filename.as_deref().unwrap_or(&row.kind)),
                alt: content
                    .caption
                    .as_deref()
                    .map_or_else(|| l.t(&format!("kind-{}", row.kind)), neutralise),
                state_text: if matches!(state, "pending" | "fetching" | "queued") {
                    l.t("media-pending")
                } else if state == "quarantined" {
                    l.t("media-quarantined")
                } else {
                    l.t("media-unavailable")
                },
            });
            item.body = format_text(content.caption.as_deref().unwrap_or(""));
        }
        "location" => {
            item.kind_label = Some(l.t("kind-location"));
            let loc = detail.and_then(|d| d.get("location"));
            let number = |k: &str| {
                loc.and_then(|l| l.get(k))
                    .and_then(serde_json::Value::as_f64)
            };
            if let (Some(lat), Some(lon)) = (number("latitude"), number("longitude")) {
                item.location = Some(Location {
                    name: neutralise(str_at(loc, &["name"]).unwrap_or("")),
                    address: neutralise(str_at(loc, &["address"]).unwrap_or("")),
                    coordinates: format!("{lat:.5}, {lon:.5}"),
                    map_url: format!(
                        "https://www.openstreetmap.org/?mlat={lat:.6}&mlon={lon:.6}#map=16/{lat:.6}/{lon:.6}"
                    ),
                });
            }
        }
        "contacts" => {
            item.kind_label = Some(l.t("kind-contacts"));
            let cards = detail
                .and_then(|d| d.get("contacts"))
                .and_then(serde_json::Value::as_array);
            item.cards = cards
                .into_iter()
                .flatten()
                .take(20)
                .map(|c| Card {
                    name: neutralise(
                        str_at(Some(c), &["name", "formatted_name"])
                            .or_else(|| str_at(Some(c), &["name", "first_name"]))
                            .unwrap_or(""),
                    ),
                    phones: c
                        .get("phones")
                        .and_then(serde_json::Value::as_array)
                        .into_iter()
                        .flatten()
                        .take(10)
                        .filter_map(|p| p.get("phone").and_then(serde_json::Value::as_str))
                        .map(neutralise)
                        .collect(),
                })
                .collect();
        }
        "reaction" => {
            item.kind_label = Some(l.t("kind-reaction"));
            let emoji = neutralise(content.text.as_deref().unwrap_or(""));
            item.body = plain(&l.tr("reacted-with", &[("emoji", Arg::Text(&emoji))]));
            let target = str_at(detail, &["reaction", "message_id"]);
            item.quoted = target.map(|w| {
                by_wamid
                    .get(w)
                    .cloned()
                    .unwrap_or_else(|| l.t("replying-to-earlier"))
            });
        }
        "interactive" => {
            item.kind_label = Some(l.t("kind-interactive"));
            item.body = format_text(content.text.as_deref().unwrap_or(""));
        }
        _ if content.template.is_some() => {
            item.kind_label = Some(l.t("kind-template"));
            let t = content.template.as_ref();
            let name = str_at(t, &["name"]).unwrap_or("");
            let params: Vec<String> = t
                .and_then(|t| t.get("params"))
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_owned)
                .collect();
            item.body = format_text(&format!("{name} {}", params.join(" · ")));
        }
        other => {
            let declared = str_at(detail, &["declared_type"]).unwrap_or(other);
            let declared: String = neutralise(declared).chars().take(40).collect();
            item.notice = Some(l.tr("kind-unsupported", &[("kind", Arg::Text(&declared))]));
            item.body = format_text(content.text.as_deref().unwrap_or(""));
        }
    }
    if let Some(verdict) = &content.guard {
        let text = content.text.as_deref().unwrap_or_default();
        item.guard = guard_note(l, verdict, text, &mut item.body);
    }
    item
}

fn page_lang(principal: &Principal, headers: &HeaderMap) -> Lang {
    lang_of(principal.user(), headers)
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

fn back_to(id: &str) -> Response {
    Redirect::to(&format!("/inbox/c/{id}")).into_response()
}

/// Renders the conversation again with an error above the composer (a refused send).
async fn with_error(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    headers: &HeaderMap,
    id: &str,
    error: &OutboundError,
) -> Result<Response, AppError> {
    let l = page_lang(principal, headers);
    let text = match error {
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
                .any(|k| k == "card_number" || k == "card_request")
            {
                l.t("guard-advice-card")
            } else if kinds.iter().any(|k| k == "code_request") {
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
        OutboundError::NotFound => return Err(AppError::NotFound),
        _ => l.t("error-internal"),
    };
    page_with_error(
        state,
        principal,
        csrf,
        l,
        id,
        text,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The conversation again, with `text` above the composer.
async fn page_with_error(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    l: Lang,
    id: &str,
    text: String,
    status: StatusCode,
) -> Result<Response, AppError> {
    let mut page = inbox_view(
        state,
        principal,
        l,
        csrf,
        &InboxQuery::default(),
        Some((id, None)),
    )
    .await?;
    page.error = Some(text);
    Ok(render(status, &page))
}

/// After a desk action (note, status, assignment, labels): back to the conversation, or the
/// conversation with the reason it was refused.
async fn desk_done(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    headers: &HeaderMap,
    id: &str,
    outcome: Result<(), crate::inbox::desk::DeskError>,
) -> Result<Response, AppError> {
    use crate::inbox::desk::DeskError;
    let l = page_lang(principal, headers);
    let (status, text) = match outcome {
        Ok(()) => return Ok(back_to(id)),
        Err(DeskError::Invalid(why)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            l.tr("error-invalid", &[("why", Arg::Text(why))]),
        ),
        Err(DeskError::Forbidden) => (StatusCode::FORBIDDEN, l.t("error-forbidden")),
        Err(other) => return Err(other.into()),
    };
    page_with_error(state, principal, csrf, l, id, text, status).await
}

async fn send(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    headers: &HeaderMap,
    id: &str,
    request: OutboundRequest,
    when: SendAt,
) -> Result<Response, AppError> {
    let scope = scope_of(principal)?;
    state
        .audited(principal, "message.send", format!("conversation:{id}"))
        .await?;
    match state
        .enqueue_screened(principal, id, &scope, request, when)
        .await?
    {
        Ok(_) => Ok(back_to(id)),
        Err(e) => with_error(state, principal, csrf, headers, id, &e).await,
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
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, AppError> {
    let mut text = form.text.trim().to_owned();
    if text.is_empty() && !form.canned.is_empty() {
        let scope = scope_of(&principal)?;
        let view = state.inbox.conversation(&id, &scope).await?;
        let agent = principal
            .user()
            .map(|u| u.display_name.clone())
            .unwrap_or_default();
        if let Some(c) = state
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
    send(&state, &principal, &csrf, &headers, &id, request, when).await
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
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<TemplateForm>,
) -> Result<Response, AppError> {
    if !state.config.whatsapp.templates.contains(&form.template) {
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
    send(&state, &principal, &csrf, &headers, &id, request, when).await
}

/// `POST /inbox/c/{id}/attach` (multipart `file`, `caption`; sent by the page's script with
/// `X-CSRF-Token`).
pub async fn attach(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    // As in the API: one permit per upload being read, held until it is queued.
    let (_upload, outbound) = crate::http::api::upload(&state, request).await?;
    send(
        &state,
        &principal,
        &csrf,
        &headers,
        &id,
        outbound,
        SendAt::Now,
    )
    .await
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
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, AppError> {
    let outcome = state.desk.add_note(&principal, &id, &form.body).await;
    desk_done(&state, &principal, &csrf, &headers, &id, outcome).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /inbox/c/{id}/status`: open, pending, resolved.
pub async fn set_status(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, AppError> {
    let outcome = state.desk.set_status(&principal, &id, &form.status).await;
    desk_done(&state, &principal, &csrf, &headers, &id, outcome).await
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
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Result<Response, AppError> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let outcome = state
        .desk
        .assign(
            &principal,
            &id,
            some(&form.assignee).as_deref(),
            some(&form.team).as_deref(),
        )
        .await;
    if outcome.is_err() {
        return desk_done(&state, &principal, &csrf, &headers, &id, outcome).await;
    }
    // The caller may no longer see it (an agent handing over); the list is always theirs.
    match state.inbox.conversation(&id, &scope_of(&principal)?).await {
        Ok(_) => Ok(back_to(&id)),
        Err(_) => Ok(Redirect::to("/inbox").into_response()),
    }
}

/// `POST /inbox/c/{id}/labels`: the checked labels, all others off.
pub async fn set_labels(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let checked: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "label")
        .map(|(_, v)| v.into_owned())
        .collect();
    let outcome = state.desk.set_labels(&principal, &id, &checked).await;
    desk_done(&state, &principal, &csrf, &headers, &id, outcome).await
}

#[derive(Deserialize)]
pub struct LabelForm {
    name: String,
}

/// `POST /inbox/c/{id}/labels/new`: creates a label and puts it on the conversation.
pub async fn new_label(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<LabelForm>,
) -> Result<Response, AppError> {
    let outcome = state.desk.add_label(&principal, &id, &form.name).await;
    desk_done(&state, &principal, &csrf, &headers, &id, outcome).await
}

/// `POST /inbox/c/{id}/reveal`: the page again, with the full number; recorded.
pub async fn reveal(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let number = crate::http::admin::reveal_and_record(&state, &principal, &id).await?;
    let l = page_lang(&principal, &headers);
    let page = inbox_view(
        &state,
        &principal,
        l,
        &csrf,
        &InboxQuery::default(),
        Some((&id, number)),
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

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
    Ok(crate::http::api::media_response(mime, &bytes, inline))
}

/// How long one event stream lives before the browser reconnects (and the gate checks the
/// session again).
const STREAM_LIFETIME: Duration = Duration::from_mins(5);

/// `GET /inbox/events`: server-sent change signals. Agents limited to their own conversations get
/// no conversation ids, only kinds.
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let sees_all = matches!(principal.conversation_scope(), Some(ConversationScope::All));
    let receiver = state.live.subscribe();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let first = Event::default().event("ready").data("{}");
    let stream = futures_util::stream::unfold(
        (receiver, Some(first)),
        move |(mut receiver, first)| async move {
            if let Some(first) = first {
                return Some((Ok(first), (receiver, None)));
            }
            let next = tokio::time::timeout_at(deadline, receiver.recv()).await;
            let data = match next {
                Err(_) | Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                Ok(Ok(event)) => {
                    let conversation = event.conversation_id.filter(|_| sees_all);
                    serde_json::json!({"kind": event.kind.as_str(), "conversation": conversation})
                }
                // Missed some: tell the page to re-read everything.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    serde_json::json!({"kind": "resync", "conversation": null})
                }
            };
            let event = Event::default().event("change").data(data.to_string());
            Some((Ok(event), (receiver, None)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
