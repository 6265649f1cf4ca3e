//! The auditor's page: the log filtered by actor, action, target and days (UTC), newest first,
//! with export links (CSV or JSON, through the audited export), the latest signed checkpoint and
//! the outcome of the latest verification, which an auditor can run again.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Redirect, Response};
use serde::Deserialize;

use crate::audit::AuditEvent;
use crate::audit::AuditFilter;
use crate::audit::alerts::LastVerification;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Csrf;
use crate::http::api::audit::describe;
use crate::http::ui::layout::{Nav, iso, lang_of, render};
use crate::i18n::{Arg, Lang};
use crate::identity::Principal;

/// Entries per page.
const PAGE: i64 = 100;
const DAY_MS: i64 = 86_400_000;

/// The filter form, as the browser sends it. Days are `YYYY-MM-DD` (UTC); `to` is inclusive.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

/// Unix ms at the start of a `YYYY-MM-DD` day (UTC); empty is no bound.
fn day_start(text: &str) -> Result<Option<i64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || AppError::BadRequest("a day is written YYYY-MM-DD".into());
    let mut parts = text.splitn(3, '-').map(str::parse::<i32>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(invalid)?;
    let day = u8::try_from(day).map_err(|_| invalid())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| invalid())?;
    Ok(Some(date.midnight().assume_utc().unix_timestamp() * 1000))
}

impl PageQuery {
    fn filter(&self) -> Result<AuditFilter, AppError> {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: text(&self.actor),
            action: text(&self.action),
            target: text(&self.target),
            from: day_start(&self.from)?,
            to: day_start(&self.to)?.map(|start| start + DAY_MS),
            before_seq: self.before,
        })
    }
}

/// `/audit?…` for a filter (without paging), or `/audit/export?format=…&…` in Unix ms.
fn href(base: &str, filter: &AuditFilter, extra: &[(&str, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("target", &filter.target),
    ] {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    for (key, value) in extra {
        query.append_pair(key, value);
    }
    let query = query.finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// Display names for actors: `user:<id>` → the user's name, `token:<id>` → the token's name.
/// Names are shown beside ids on the page; the log itself holds ids only.
pub async fn actor_names(state: &AppState) -> Result<HashMap<String, String>, AppError> {
    let mut names: HashMap<String, String> = state
        .identity
        .list_users()
        .await?
        .into_iter()
        .map(|u| (format!("user:{}", u.id), u.display_name))
        .collect();
    for t in state.identity.list_api_tokens().await? {
        names.insert(format!("token:{}", t.id), t.name);
    }
    Ok(names)
}

struct EntryLine {
    seq: i64,
    at: String,
    at_iso: String,
    actor: String,
    actor_name: Option<String>,
    actor_href: String,
    action: String,
    action_href: String,
    target: String,
    target_href: String,
    ip: String,
    outcome: String,
    outcome_text: String,
    reason: String,
}

struct CheckpointLine {
    size: String,
    at: String,
    at_iso: String,
    note: String,
}

struct VerifiedLine {
    ok: bool,
    text: String,
    at: String,
    at_iso: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    l: Lang,
    title: String,
    nav: Nav,
    q: PageQuery,
    entries: Vec<EntryLine>,
    older: Option<String>,
    newest: String,
    export_csv: String,
    export_json: String,
    size_text: String,
    checkpoint: Option<CheckpointLine>,
    unsigned_text: String,
    key: String,
    verified: Option<VerifiedLine>,
}

fn verified_line(l: Lang, v: &LastVerification) -> VerifiedLine {
    let entries = Arg::Count(i64::try_from(v.entries).unwrap_or(i64::MAX));
    let checkpoints = Arg::Count(i64::try_from(v.checkpoints).unwrap_or(i64::MAX));
    let text = match &v.problem {
        None => l.tr(
            "audit-verified-ok",
            &[("entries", entries), ("checkpoints", checkpoints)],
        ),
        Some(problem) => l.tr("audit-verified-broken", &[("problem", Arg::Text(problem))]),
    };
    VerifiedLine {
        ok: v.problem.is_none(),
        text,
        at: l.datetime(v.at),
        at_iso: iso(v.at),
    }
}

/// `GET /audit`: the log, filtered, newest first. The search itself is recorded.
#[allow(
    clippy::too_many_lines,
    reason = "a view model: the integrity box, then the table"
)]
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let l = lang_of(principal.user(), &headers);
    let filter = q.filter()?;
    let rows = state.audit.search_audit(&filter, PAGE).await?;
    state
        .audit
        .record(
            AuditEvent::by(&principal, "audit.search", "audit_log")
                .reason(&describe(&state.inbox.keys, &filter)),
        )
        .await?;
    let names = actor_names(&state).await?;
    let days = [("from", q.from.clone()), ("to", q.to.clone())];
    let days: Vec<(&str, String)> = days
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let only = |key: &str, value: &str| {
        let mut f = AuditFilter {
            before_seq: None,
            ..filter.clone()
        };
        match key {
            "actor" => f.actor = Some(value.to_owned()),
            "action" => f.action = Some(value.to_owned()),
            _ => f.target = Some(value.to_owned()),
        }
        href("/audit", &f, &days)
    };
    let entries: Vec<EntryLine> = rows
        .iter()
        .map(|r| EntryLine {
            seq: r.seq,
            at: l.datetime(r.at),
            at_iso: iso(r.at),
            actor_name: names.get(&r.actor).cloned(),
            actor_href: only("actor", &r.actor),
            actor: r.actor.clone(),
            action_href: only("action", &r.action),
            action: r.action.clone(),
            target_href: only("target", &r.target),
            target: r.target.clone(),
            ip: r.ip.clone(),
            outcome_text: l.t(&format!("audit-outcome-{}", r.outcome)),
            outcome: r.outcome.clone(),
            reason: r.reason.clone(),
        })
        .collect();
    let unfiltered_page = AuditFilter {
        before_seq: None,
        ..filter.clone()
    };
    let older = (i64::try_from(entries.len()).unwrap_or(0) == PAGE)
        .then(|| entries.last().map(|e| e.seq))
        .flatten()
        .map(|seq| {
            let mut extra = days.clone();
            extra.push(("before", seq.to_string()));
            href("/audit", &unfiltered_page, &extra)
        });
    let mut export = vec![];
    if let Some(from) = filter.from {
        export.push(("from", from.to_string()));
    }
    if let Some(to) = filter.to {
        export.push(("to", to.to_string()));
    }
    let export_as = |format: &str| {
        let mut extra = vec![("format", format.to_owned())];
        extra.extend(export.iter().cloned());
        href("/audit/export", &unfiltered_page, &extra)
    };
    let (size, _) = state.audit.audit_head().await?;
    let latest = state.audit.latest_checkpoint().await?;
    let unsigned = size - latest.as_ref().map_or(0, |c| c.size);
    let verified = state.alerter.last_verification().await?;
    let page = AuditPage {
        title: l.t("audit-title"),
        nav: Nav::load(&state, &principal, l, &csrf, "audit").await?,
        newest: href("/audit", &unfiltered_page, &days),
        export_csv: export_as("csv"),
        export_json: export_as("json"),
        size_text: l.tr("audit-size", &[("count", Arg::Count(size))]),
        checkpoint: latest.map(|c| CheckpointLine {
            size: l.number(c.size),
            at: l.datetime(c.at),
            at_iso: iso(c.at),
            note: c.note,
        }),
        unsigned_text: l.tr("audit-unsigned", &[("count", Arg::Count(unsigned))]),
        key: state.audit.verifier().to_text(),
        verified: verified.as_ref().map(|v| verified_line(l, v)),
        older,
        entries,
        q,
        l,
    };
    Ok(render(axum::http::StatusCode::OK, &page))
}

/// `POST /audit/verify`: verifies the whole log now (as `veil audit verify` does) and shows the
/// outcome; a failure also raises an alert.
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, AppError> {
    state
        .audited(&principal, "audit.verify", "audit_log".to_owned())
        .await?;
    state.alerter.verify_log(&state.audit).await?;
    Ok(Redirect::to("/audit#integrity").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights_and_nonsense_is_refused() {
        assert_eq!(day_start("").ok(), Some(None));
        assert_eq!(day_start("1970-01-02").ok(), Some(Some(DAY_MS)));
        assert_eq!(day_start("2026-11-21").ok(), Some(Some(1_795_219_200_000)));
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "yesterday",
            "2026-11",
            "-1-01-01x",
        ] {
            assert!(day_start(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_carry_the_filter_encoded() {
        let filter = AuditFilter {
            actor: Some("user:a&b".into()),
            action: Some("login.success".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            href("/audit", &filter, &[("before", "9".into())]),
            "/audit?actor=user%3Aa%26b&action=login.success&before=9"
        );
        assert_eq!(href("/audit", &AuditFilter::default(), &[]), "/audit");
    }
}
