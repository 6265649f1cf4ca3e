//! The audit log for auditors: search, export (CSV or JSON, itself audited), the current signed
//! checkpoint, and alerts.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{AuditFilter, AuditRow};
use crate::error::AppError;
use crate::http::AppState;
use crate::identity::Principal;

/// Most entries one search returns; exports page through up to `EXPORT_MAX`.
const PAGE_MAX: i64 = 1_000;
const EXPORT_MAX: usize = 100_000;

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// Unix ms, inclusive.
    from: Option<i64>,
    /// Unix ms, exclusive.
    to: Option<i64>,
    /// Entries before this sequence number (the next page).
    before: Option<i64>,
    limit: Option<i64>,
    /// `csv` or `json` (export only).
    format: Option<String>,
}

impl SearchQuery {
    fn filter(&self) -> AuditFilter {
        let text = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        AuditFilter {
            actor: text(&self.actor),
            action: text(&self.action),
            target: text(&self.target),
            from: self.from,
            to: self.to,
            before_seq: self.before,
        }
    }
}

/// What was asked, for the audit entry of a search or export: what a person typed (actor,
/// action, target: it may be a phone number or a name) only as a keyed digest, so the
/// append-only log never holds it; the times as they are. Whoever holds the key file can check
/// whether a given value was searched for by computing its digest (blind index, domain
/// `audit-search`, first 8 bytes in hex).
pub fn describe(keys: &crate::keys::Keys, f: &AuditFilter) -> String {
    let digest = |name: &str, v: &String| {
        let d = keys.blind("audit-search", v);
        format!("{name}#{}", hex::encode(d.get(..8).unwrap_or(&d)))
    };
    [
        f.actor.as_ref().map(|v| digest("actor", v)),
        f.action.as_ref().map(|v| digest("action", v)),
        f.target.as_ref().map(|v| digest("target", v)),
        f.from.map(|v| format!("from={v}")),
        f.to.map(|v| format!("to={v}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
}

fn entry_json(r: &AuditRow) -> serde_json::Value {
    json!({
        "seq": r.seq, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
        "ip": r.ip, "outcome": r.outcome, "reason": r.reason,
    })
}

/// Paging of `GET /api/v1/alerts`: the cursor (`before`, `before_id`) of the last one seen.
#[derive(Debug, Default, Deserialize)]
pub struct AlertPage {
    before: Option<i64>,
    before_id: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/audit`: entries newest first, filtered.
pub async fn search(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<SearchQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let rows = state
        .audit
        .search_audit(&q.filter(), q.limit.unwrap_or(100).clamp(1, PAGE_MAX))
        .await?;
    state
        .audit
        .record(
            crate::audit::AuditEvent::by(&principal, "audit.search", "audit_log")
                .reason(&describe(&state.inbox.keys, &q.filter())),
        )
        .await?;
    let next = rows.last().map(|r| r.seq);
    Ok(Json(json!({
        "entries": rows.iter().map(entry_json).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

/// A CSV cell that a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, tab or
/// carriage return gets a leading apostrophe (OWASP's CSV injection advice).
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// `GET /api/v1/audit/export?format=csv|json`: every matching entry (up to 100,000), as a
/// download. The export is itself an audit entry, written before the data leaves.
#[allow(
    clippy::too_many_lines,
    reason = "collect, record, then one of two formats"
)]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<SearchQuery>,
) -> Result<Response, AppError> {
    let csv = match q.format.as_deref().unwrap_or("csv") {
        "csv" => true,
        "json" => false,
        _ => return Err(AppError::BadRequest("format is csv or json".into())),
    };
    let mut filter = q.filter();
    let mut rows = Vec::new();
    while rows.len() < EXPORT_MAX {
        let page = state.audit.search_audit(&filter, PAGE_MAX).await?;
        let Some(last) = page.last().map(|r| r.seq) else {
            break;
        };
        filter.before_seq = Some(last);
        rows.extend(page);
    }
    rows.truncate(EXPORT_MAX);
    state
        .audit
        .record(
            crate::audit::AuditEvent::by(&principal, "audit.export", "audit_log").reason(&format!(
                "{} entries {}",
                rows.len(),
                describe(&state.inbox.keys, &q.filter())
            )),
        )
        .await?;
    let (mime, name, body) = if csv {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = [
            "seq", "at", "actor", "action", "target", "ip", "outcome", "reason",
        ];
        writer
            .write_record(header)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        for r in &rows {
            writer
                .write_record([
                    r.seq.to_string(),
                    r.at.to_string(),
                    neutralise(&r.actor),
                    neutralise(&r.action),
                    neutralise(&r.target),
                    neutralise(&r.ip),
                    neutralise(&r.outcome),
                    neutralise(&r.reason),
                ])
                .map_err(|e| AppError::Internal(e.to_string()))?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| AppError::Internal(e.to_string()))?;
        ("text/csv; charset=utf-8", "veil-audit.csv", bytes)
    } else {
        let body = json!({"entries": rows.iter().map(entry_json).collect::<Vec<_>>()});
        (
            "application/json",
            "veil-audit.json",
            serde_json::to_vec(&body).map_err(|e| AppError::Internal(e.to_string()))?,
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/v1/audit/checkpoint`: the latest signed checkpoint and the key to check it.
pub async fn checkpoint(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, AppError> {
    let latest = state.audit.latest_checkpoint().await?;
    Ok(Json(json!({
        "checkpoint": latest.as_ref().map(|c| c.note.clone()),
        "size": latest.as_ref().map(|c| c.size),
        "at": latest.as_ref().map(|c| c.at),
        "key": state.audit.verifier().to_text(),
    })))
}

/// `GET /api/v1/alerts`: the newest alerts.
pub async fn alerts(
    State(state): State<AppState>,
    Query(page): Query<AlertPage>,
) -> Result<Json<serde_json::Value>, AppError> {
    let limit = page.limit.unwrap_or(200).clamp(1, 500);
    let before = page
        .before
        .map(|at| (at, page.before_id.as_deref().unwrap_or("")));
    let rows = state.alerter.alerts_before(before, limit).await?;
    let next = rows
        .last()
        .filter(|_| rows.len() >= usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|a| json!({"before": a.at, "before_id": a.id}));
    Ok(Json(json!({
        "next": next,
        "alerts": rows.iter().map(|a| json!({
            "id": a.id, "at": a.at, "rule": a.rule, "actor": a.actor, "detail": a.detail,
            "seq": a.seq, "email": a.email_state, "webhook": a.webhook_state,
            "acknowledged_by": a.acknowledged_by,
        })).collect::<Vec<_>>(),
    })))
}
