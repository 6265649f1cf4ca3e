//! The chrome of every signed-in page: the top bar, the page's language, rendering a template,
//! and times for `<time datetime>`.

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::AppError;
use crate::http::AppState;
use crate::i18n::Lang;
use crate::identity::{Permission, Principal, UserRow};

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
        let alerts = if principal.can(crate::http::ui::admin::sections::ALERTS_PERMISSION) {
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
            admin: crate::http::ui::admin::sections::opens_any(principal),
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

/// The language of a signed-in page.
pub fn page_lang(principal: &Principal, headers: &HeaderMap) -> Lang {
    lang_of(principal.user(), headers)
}
