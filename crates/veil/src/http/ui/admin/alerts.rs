//! Administration → Alerts: what fired, where it went, and acknowledging it.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::layout::Nav;
use crate::i18n::{Arg, Lang};

use super::{Head, Section};

struct AlertLine {
    id: String,
    at: String,
    at_iso: String,
    rule: String,
    actor: String,
    detail: String,
    /// The audit entry that raised it, as a link into the log (empty for the whole log).
    entry: i64,
    delivery: String,
    /// Who acknowledged it, and when (shown and ISO).
    acknowledged: Option<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "admin_alerts.html")]
pub(super) struct AlertsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    alerts: Vec<AlertLine>,
    summary: String,
}

/// Newest first: what fired, who, where it went, and who acknowledged it.
pub(super) async fn alerts_page(
    state: &AppState,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<AlertsPage, AppError> {
    let names = crate::http::ui::audit::actor_names(state).await?;
    let name = |actor: &str| {
        names
            .get(actor)
            .cloned()
            .unwrap_or_else(|| actor.to_owned())
    };
    let delivered = |channel: &str, state: &str| match state {
        "none" => None,
        _ => Some(format!(
            "{channel}: {}",
            l.t(&format!("alert-delivery-{state}"))
        )),
    };
    let alerts =
        state
            .alerter
            .alerts(500)
            .await?
            .into_iter()
            .map(|a| AlertLine {
                at: l.datetime(a.at),
                at_iso: crate::http::ui::layout::iso(a.at),
                rule: l.t(&format!("alert-rule-{}", a.rule)),
                actor: name(&a.actor),
                delivery: [
                    delivered(&l.t("alert-email"), &a.email_state),
                    delivered(&l.t("alert-webhook"), &a.webhook_state),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
                acknowledged: a.acknowledged_by.as_deref().zip(a.acknowledged_at).map(
                    |(by, at)| {
                        (
                            l.tr("alert-acknowledged-by", &[("name", Arg::Text(&name(by)))]),
                            l.datetime(at),
                            crate::http::ui::layout::iso(at),
                        )
                    },
                ),
                entry: a.seq,
                id: a.id,
                detail: a.detail,
            })
            .collect();
    Ok(AlertsPage {
        l,
        title,
        summary: l.tr("alerts-open", &[("count", Arg::Count(nav.alerts))]),
        nav,
        head,
        alerts,
    })
}

/// `POST /admin/alerts/{id}/acknowledge`: marks an alert as seen and handled (recorded).
pub async fn acknowledge_alert(page: Page, Path(id): Path<String>) -> Result<Response, AppError> {
    let outcome: Result<(), AppError> = async {
        page.state
            .audited(&page.principal, "alert.acknowledge", format!("alert:{id}"))
            .await?;
        let done = page
            .state
            .alerter
            .acknowledge_alert(&id, &page.principal.label(), page.state.clock.now_ms())
            .await?;
        if done {
            Ok(())
        } else {
            Err(AppError::BadRequest("no such open alert".into()))
        }
    }
    .await;
    page.finish(Section::Alerts, outcome).await
}
