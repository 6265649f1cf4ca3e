//! Administration → Users: the list, inviting, role, disable and enable, 2FA reset, unlock and
//! ending a user's sessions.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::layout::Nav;
use crate::i18n::Lang;
use crate::identity::UserChange;
use crate::identity::{Permission, Principal, Role, STATUS_ACTIVE, STATUS_DISABLED};

use super::{Extra, Head, Section, role_text};

struct RoleChoice {
    code: &'static str,
    label: String,
}

struct UserLine {
    id: String,
    name: String,
    email: String,
    role: String,
    role_text: String,
    status: String,
    status_text: String,
    second_factor: String,
    teams: String,
    manageable: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub(super) struct UsersPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    users: Vec<UserLine>,
    /// Roles the viewer may grant (empty: they may not manage users).
    roles: Vec<RoleChoice>,
    languages: Vec<(&'static str, &'static str)>,
}

#[allow(
    clippy::too_many_lines,
    reason = "a view model: each column of the table, top to bottom"
)]
pub(super) async fn users_page(
    state: &AppState,
    principal: &Principal,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<UsersPage, AppError> {
    let teams: HashMap<String, String> = state
        .identity
        .list_teams()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut teams_of: HashMap<String, Vec<String>> = HashMap::new();
    for (team, user) in state.identity.team_memberships().await? {
        if let Some(name) = teams.get(&team) {
            teams_of.entry(user).or_default().push(name.clone());
        }
    }
    let me = principal.role();
    let manage = principal.can(Permission::UserManage);
    let users = state
        .identity
        .list_users()
        .await?
        .into_iter()
        .map(|u| {
            let role = Role::parse(&u.role);
            let mut names = teams_of.remove(&u.id).unwrap_or_default();
            names.sort();
            UserLine {
                manageable: manage
                    && principal.user().is_none_or(|p| p.id != u.id)
                    && me.zip(role).is_some_and(|(me, r)| me.may_manage(r)),
                role_text: role_text(l, &u.role),
                status_text: if u.status == STATUS_ACTIVE {
                    l.t("user-active")
                } else {
                    l.t("user-disabled")
                },
                second_factor: if u.totp_secret_ct.is_some() {
                    l.t("second-factor-on")
                } else {
                    l.t("second-factor-pending")
                },
                teams: names.join(", "),
                id: u.id,
                name: u.display_name,
                email: u.email,
                role: u.role,
                status: u.status,
            }
        })
        .collect();
    let roles = if manage {
        Role::ALL
            .into_iter()
            .filter(|r| me.is_some_and(|me| me.may_manage(*r)))
            .map(|r| RoleChoice {
                code: r.as_str(),
                label: role_text(l, r.as_str()),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(UsersPage {
        l,
        title,
        nav,
        head,
        users,
        roles,
        languages: Lang::ALL
            .iter()
            .map(|x| (x.code(), x.native_name()))
            .collect(),
    })
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    display_name: String,
    role: String,
    #[serde(default)]
    language: String,
}

/// `POST /admin/users` (re-authentication required): creates the user and shows the one-time
/// setup link.
pub async fn invite(page: Page, Form(form): Form<InviteForm>) -> Result<Response, AppError> {
    let created = async {
        let role =
            Role::parse(&form.role).ok_or_else(|| AppError::BadRequest("unknown role".into()))?;
        let language = if form.language.is_empty() {
            crate::i18n::AUTO
        } else {
            form.language.as_str()
        };
        let (_, link) = page
            .state
            .identity
            .invite_user(
                &page.principal,
                &form.email,
                &form.display_name,
                role,
                language,
            )
            .await?;
        Ok::<_, AppError>(link)
    }
    .await;
    match created {
        Ok(link) => {
            let extra = Extra {
                error: None,
                setup_link: link.map(|l| l.to_string()),
            };
            page.show(Section::Users, extra, StatusCode::CREATED).await
        }
        Err(e) => page.finish(Section::Users, Err::<(), _>(e)).await,
    }
}

async fn change_user(
    state: &AppState,
    principal: &Principal,
    id: &str,
    change: UserChange,
    action: &str,
) -> Result<(), AppError> {
    if principal.user().is_some_and(|u| u.id == id) {
        return Err(AppError::BadRequest(
            "change your own account on the account page".into(),
        ));
    }
    state
        .identity
        .administer_user(Some(principal), id, &change, action)
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /admin/users/{id}/role` (re-authentication required)
pub async fn set_role(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let outcome = change_user(
        &page.state,
        &page.principal,
        &id,
        UserChange::Role(form.role),
        "user.role",
    )
    .await;
    page.finish(Section::Users, outcome).await
}

macro_rules! user_action {
    ($name:ident, $change:expr, $action:literal) => {
        pub async fn $name(page: Page, Path(id): Path<String>) -> Result<Response, AppError> {
            let outcome = change_user(&page.state, &page.principal, &id, $change, $action).await;
            page.finish(Section::Users, outcome).await
        }
    };
}

user_action!(
    disable_user,
    UserChange::Status(STATUS_DISABLED.into()),
    "user.disable"
);
user_action!(
    enable_user,
    UserChange::Status(STATUS_ACTIVE.into()),
    "user.enable"
);
user_action!(
    reset_second_factor,
    UserChange::ResetSecondFactor,
    "user.reset_2fa"
);

/// `POST /admin/users/{id}/logout`: ends every session of the user.
pub async fn logout_user(page: Page, Path(id): Path<String>) -> Result<Response, AppError> {
    let outcome = page
        .state
        .identity
        .logout_user(Some(&page.principal), &id)
        .await;
    page.finish(Section::Users, outcome).await
}
