//! Administration → Teams: teams, their members, and how new conversations are assigned to them.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::inbox::Choice;
use crate::http::ui::layout::Nav;
use crate::i18n::Lang;
use crate::identity::{Permission, Principal, STATUS_ACTIVE};

use super::{Head, NameForm, Section};

struct MemberLine {
    id: String,
    name: String,
    online: bool,
    presence: String,
    open: i64,
}

struct TeamBlock {
    id: String,
    name: String,
    auto_assign: bool,
    capacity: i64,
    members: Vec<MemberLine>,
    candidates: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "admin_teams.html")]
pub(super) struct TeamsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    teams: Vec<TeamBlock>,
    can_manage: bool,
}

#[allow(
    clippy::too_many_lines,
    reason = "a view model: each team with members, load and presence"
)]
pub(super) async fn teams_page(
    state: &AppState,
    principal: &Principal,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<TeamsPage, AppError> {
    let users = state.identity.list_users().await?;
    let name_of: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.display_name.as_str()))
        .collect();
    let memberships = state.identity.team_memberships().await?;
    let online_since = state.clock.now_ms() - crate::inbox::assignment::ONLINE_MS;
    let mut teams = Vec::new();
    for t in state.identity.team_details().await? {
        let loads = state.identity.member_loads(&t.id, online_since).await?;
        let mut members: Vec<MemberLine> = memberships
            .iter()
            .filter(|(team, _)| team == &t.id)
            .map(|(_, user)| {
                let load = loads.iter().find(|m| &m.user_id == user);
                let online = load.is_some_and(|m| m.online == 1);
                MemberLine {
                    id: user.clone(),
                    name: name_of
                        .get(user.as_str())
                        .copied()
                        .unwrap_or("?")
                        .to_owned(),
                    online,
                    presence: if load.is_none() {
                        l.t("user-disabled")
                    } else if online {
                        l.t("online")
                    } else {
                        l.t("offline")
                    },
                    open: load.map_or(0, |m| m.open),
                }
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let candidates = users
            .iter()
            .filter(|u| u.status == STATUS_ACTIVE && !members.iter().any(|m| m.id == u.id))
            .map(|u| Choice {
                id: u.id.clone(),
                name: u.display_name.clone(),
                selected: false,
            })
            .collect();
        teams.push(TeamBlock {
            id: t.id,
            name: t.name,
            auto_assign: t.auto_assign == 1,
            capacity: t.capacity,
            members,
            candidates,
        });
    }
    Ok(TeamsPage {
        l,
        title,
        nav,
        head,
        teams,
        can_manage: principal.can(Permission::UserManage),
    })
}

/// `POST /admin/teams`
pub async fn create_team(page: Page, Form(form): Form<NameForm>) -> Result<Response, AppError> {
    let outcome = page
        .state
        .identity
        .create_team(&page.principal, &form.name)
        .await;
    page.finish(Section::Teams, outcome).await
}

#[derive(Deserialize)]
pub struct MemberForm {
    user_id: String,
}

/// `POST /admin/teams/{id}/members`
pub async fn add_member(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, AppError> {
    let outcome = page
        .state
        .identity
        .add_team_member(&page.principal, &id, &form.user_id)
        .await;
    page.finish(Section::Teams, outcome).await
}

/// `POST /admin/teams/{id}/members/{user_id}/remove`
pub async fn remove_member(
    page: Page,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let outcome = page
        .state
        .identity
        .remove_team_member(&page.principal, &id, &user_id)
        .await;
    page.finish(Section::Teams, outcome).await
}

#[derive(Deserialize)]
pub struct RoutingForm {
    #[serde(default)]
    auto_assign: String,
    capacity: String,
}

/// `POST /admin/teams/{id}/routing`: auto-assignment on or off, capacity per member.
pub async fn team_routing(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<RoutingForm>,
) -> Result<Response, AppError> {
    let outcome = match form.capacity.trim().parse::<i64>() {
        Ok(capacity) => page
            .state
            .identity
            .set_team_routing(&page.principal, &id, !form.auto_assign.is_empty(), capacity)
            .await
            .map_err(AppError::from),
        Err(_) => Err(AppError::BadRequest("capacity must be a number".into())),
    };
    if outcome.is_ok() {
        page.state
            .live
            .publish(crate::inbox::live::LiveKind::Message, None);
    }
    page.finish(Section::Teams, outcome).await
}
