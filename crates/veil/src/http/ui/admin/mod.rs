//! The admin pages: users (invite, role, disable, reset 2FA, end sessions), teams (members,
//! auto-assignment), channels, canned replies and labels, and the access policy. Every change is
//! a form post through the gate (CSRF, permission, re-authentication where `routes.rs` says so)
//! into the same domain calls the JSON API uses; each is recorded by the domain.

mod alerts;
mod policies;
mod settings;
mod teams;
mod users;

pub use alerts::*;
pub use policies::*;
pub use settings::*;
pub use teams::*;
pub use users::*;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::layout::{Nav, lang_of, render};
use crate::i18n::{Arg, Lang};
use crate::identity::{Permission, Principal};
use alerts::alerts_page;
use policies::policies_page;
use settings::{channels_page, inbox_page};
use teams::teams_page;
use users::users_page;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Users,
    Teams,
    Channels,
    Inbox,
    Policies,
    Guard,
    Alerts,
}

/// Who sees alerts in the inbox and acknowledges them.
pub const ALERTS_PERMISSION: Permission = Permission::PolicyManage;

impl Section {
    /// In tab order.
    const ALL: [Self; 7] = [
        Self::Users,
        Self::Teams,
        Self::Channels,
        Self::Inbox,
        Self::Policies,
        Self::Guard,
        Self::Alerts,
    ];

    /// Path, title key, and the permissions that open it (as in `routes.rs`).
    fn spec(self) -> (&'static str, &'static str, &'static [Permission]) {
        match self {
            Self::Users => ("/admin/users", "admin-users", &[Permission::UserRead]),
            Self::Teams => ("/admin/teams", "admin-teams", &[Permission::UserRead]),
            Self::Channels => (
                "/admin/channels",
                "admin-channels",
                &[Permission::PolicyManage],
            ),
            Self::Inbox => ("/admin/inbox", "admin-inbox", &[Permission::InboxManage]),
            Self::Policies => (
                "/admin/policies",
                "admin-policies",
                &[Permission::PolicyManage],
            ),
            Self::Guard => ("/admin/guard", "admin-guard", &[Permission::PolicyManage]),
            Self::Alerts => ("/admin/alerts", "admin-alerts", &[ALERTS_PERMISSION]),
        }
    }

    fn path(self) -> &'static str {
        self.spec().0
    }

    fn open_to(self, principal: &Principal) -> bool {
        self.spec().2.iter().any(|p| principal.can(*p))
    }
}

/// The permissions that open at least one section (the `/admin` gate and the navigation link).
pub const ANY_SECTION: &[Permission] = &[
    Permission::UserRead,
    Permission::InboxManage,
    Permission::PolicyManage,
];

/// Whether the principal may open any admin section.
pub fn opens_any(principal: &Principal) -> bool {
    ANY_SECTION.iter().any(|p| principal.can(*p))
}

pub struct Tab {
    pub(crate) href: &'static str,
    pub(crate) label: String,
    pub(crate) active: bool,
}

/// What every admin page shows above its own content.
pub struct Head {
    pub(crate) tabs: Vec<Tab>,
    pub(crate) error: Option<String>,
    pub(crate) setup_link: Option<String>,
    pub(crate) reauth_needed: bool,
    pub(crate) path: &'static str,
}

fn role_text(l: Lang, role: &str) -> String {
    l.t(&format!("role-{role}"))
}

/// What a page shows besides its content.
#[derive(Default)]
struct Extra {
    error: Option<String>,
    setup_link: Option<String>,
}

fn head(state: &AppState, principal: &Principal, l: Lang, section: Section, extra: Extra) -> Head {
    Head {
        tabs: Section::ALL
            .into_iter()
            .filter(|s| s.open_to(principal))
            .map(|s| Tab {
                href: s.path(),
                label: l.t(s.spec().1),
                active: s == section,
            })
            .collect(),
        error: extra.error,
        setup_link: extra.setup_link,
        reauth_needed: state.identity.require_recent_auth(principal).is_err(),
        path: section.path(),
    }
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
            Section::Guard => render(
                status,
                &crate::http::ui::guard::page(state, l, title, nav, head),
            ),
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
