//! One conversation as the page shows it: its messages (text, media, cards, locations, the
//! guard's notes, delivery ticks), the contact panel, and the composer's choices.

use std::collections::HashMap;

use super::media::RELEASE_PERMISSION;
use super::view::{Canned, Card, Choice, GuardNote, Item, Location, MediaItem, Thread, Tick};
use super::{shown_name, status_text, window_texts};
use crate::error::AppError;
use crate::guard::Kind;
use crate::http::AppState;
use crate::http::ui::layout::iso;
use crate::http::ui::text::{Span, file_name, format_text, neutralise};
use crate::i18n::{Arg, Lang};
use crate::identity::{Permission, Principal, Role};
use crate::inbox::ConversationScope;
use crate::inbox::MessageView;
use crate::inbox::desk::expand_canned;

/// Messages the conversation page shows at once; older ones are a link away.
const THREAD_PAGE: usize = 200;

/// The conversation a page shows, and which part of it.
pub(super) struct Opened<'a> {
    pub(super) id: &'a str,
    pub(super) revealed: Option<String>,
    /// Show the messages before this one (time, id) instead of the newest.
    pub(super) before: Option<(i64, &'a str)>,
}

#[allow(
    clippy::too_many_lines,
    reason = "builds one page's view model field by field, top to bottom"
)]
pub(super) async fn thread_view(
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
            let first = shown.iter().find(|d| d.kind.as_str() == *kind);
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
        .filter(|d| matches!(d.kind, Kind::PhishingUrl | Kind::SuspiciousUrl))
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
