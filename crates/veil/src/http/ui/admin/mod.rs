//! The admin pages: users (invite, role, disable, reset 2FA, end sessions), teams (members,
//! auto-assignment), channels, canned replies and labels, and the access policy. Every change is
//! a form post through the gate (CSRF, permission, re-authentication where `routes.rs` says so)
//! into the same domain calls the JSON API uses; each is recorded by the domain.

mod alerts;
mod guard;
mod policies;
pub mod sections;
mod settings;
mod teams;
mod users;

pub use alerts::*;
pub use policies::*;
pub use sections::{ALERTS_PERMISSION, ANY_SECTION, opens_any};
pub use settings::*;
pub use teams::*;
pub use users::*;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::AppError;

use crate::http::access::Page;
use crate::http::ui::layout::{Nav, lang_of, render};
use crate::i18n::{Arg, Lang};
use crate::identity::Principal;
use alerts::alerts_page;
use policies::policies_page;
use sections::{Extra, Head, Section, head};
use settings::{channels_page, inbox_page};
use teams::teams_page;
use users::users_page;

fn role_text(l: Lang, role: &str) -> String {
    l.t(&format!("role-{role}"))
}

impl Page {
    /// Renders one section.
    async fn show(
        &self,
        section: Section,
        extra: Extra,
        status: StatusCode,
    ) -> Result<Response, AppError> {
        let (state, principal) = (&self.state, &self.principal);
        let l = lang_of(principal.user(), &self.headers);
        let nav = Nav::load(state, principal, l, &self.csrf, "admin").await?;
        let title = l.t(section.spec().1);
        let head = head(state, principal, l, section, extra);
        Ok(match section {
            Section::Users => render(
                status,
                &users_page(state, principal, l, title, nav, head).await?,
            ),
            Section::Teams => render(
                status,
                &teams_page(state, principal, l, title, nav, head).await?,
            ),
            Section::Channels => render(status, &channels_page(state, l, title, nav, head).await?),
            Section::Inbox => render(status, &inbox_page(state, l, title, nav, head).await?),
            Section::Policies => render(
                status,
                &policies_page(state, principal, l, title, nav, head),
            ),
            Section::Guard => render(status, &guard::page(state, l, title, nav, head)),
            Section::Alerts => render(status, &alerts_page(state, l, title, nav, head).await?),
        })
    }

    /// After a change: back to the section (303), or the section again with the reason it was
    /// refused.
    async fn finish<T, E: Into<AppError>>(
        &self,
        section: Section,
        outcome: Result<T, E>,
    ) -> Result<Response, AppError> {
        let error = match outcome {
            Ok(_) => return Ok(Redirect::to(section.path()).into_response()),
            Err(e) => e.into(),
        };
        let l = lang_of(self.principal.user(), &self.headers);
        let (status, text) = match &error {
            AppError::BadRequest(why) | AppError::Unprocessable(why) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                l.tr("error-invalid", &[("why", Arg::Text(why))]),
            ),
            AppError::Forbidden => (StatusCode::FORBIDDEN, l.t("error-forbidden")),
            AppError::ReauthRequired => (StatusCode::FORBIDDEN, l.t("error-reauth")),
            _ => return Err(error),
        };
        let extra = Extra {
            error: Some(text),
            setup_link: None,
        };
        self.show(section, extra, status).await
    }
}

macro_rules! section_page {
    ($name:ident, $section:expr) => {
        pub async fn $name(page: Page) -> Result<Response, AppError> {
            page.show($section, Extra::default(), StatusCode::OK).await
        }
    };
}

section_page!(users, Section::Users);

section_page!(teams, Section::Teams);

section_page!(channels, Section::Channels);

section_page!(inbox_settings, Section::Inbox);

section_page!(policies, Section::Policies);

section_page!(alerts, Section::Alerts);

section_page!(guard, Section::Guard);

/// `GET /admin`: the first section the caller may open.
pub async fn index(principal: Principal) -> Response {
    Section::ALL
        .into_iter()
        .find(|s| s.open_to(&principal))
        .map_or_else(
            || StatusCode::FORBIDDEN.into_response(),
            |s| Redirect::to(s.path()).into_response(),
        )
}

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_gate_opens_exactly_the_sections() {
        for section in Section::ALL {
            assert!(section.spec().2.iter().all(|p| ANY_SECTION.contains(p)));
        }
        for p in ANY_SECTION {
            assert!(Section::ALL.iter().any(|s| s.spec().2.contains(p)));
        }
    }
}
