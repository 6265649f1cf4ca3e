//! The admin pages: users (invite, role, disable, reset 2FA, end sessions), teams (members,
//! auto-assignment), channels, canned replies and labels, and the access policy. Every change is
//! a form post through the gate (CSRF, permission, re-authentication where `routes.rs` says so)
//! into the same domain calls the JSON API uses; each is recorded by the domain.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::inbox::Choice;
use crate::http::ui::layout::{Nav, lang_of, render};
use crate::i18n::{Arg, Lang};
use crate::identity::UserChange;
use crate::identity::policy::{ALLOWLIST_SUBJECTS, AccessPolicy};
use crate::identity::{Permission, Principal, Role, STATUS_ACTIVE, STATUS_DISABLED};

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
struct UsersPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    users: Vec<UserLine>,
    /// Roles the viewer may grant (empty: they may not manage users).
    roles: Vec<RoleChoice>,
    languages: Vec<(&'static str, &'static str)>,
}

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
struct TeamsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    teams: Vec<TeamBlock>,
    can_manage: bool,
}

struct ChannelLine {
    id: String,
    number: String,
    phone_number_id: String,
    name: String,
    conversations: String,
    teams: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "admin_channels.html")]
struct ChannelsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    channels: Vec<ChannelLine>,
}

#[derive(Template)]
#[template(path = "admin_inbox.html")]
struct InboxSettingsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    canned: Vec<crate::inbox::CannedReplyRow>,
    labels: Vec<crate::inbox::LabelRow>,
}

struct Allowlist {
    subject: &'static str,
    label: String,
    networks: String,
}

#[derive(Template)]
#[template(path = "admin_policies.html")]
struct PoliciesPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    policy: AccessPolicy,
    allowlists: Vec<Allowlist>,
    allowlist_help: String,
}

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
struct AlertsPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    alerts: Vec<AlertLine>,
    summary: String,
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

/// Renders one section.
async fn show(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    headers: &HeaderMap,
    section: Section,
    extra: Extra,
    status: StatusCode,
) -> Result<Response, AppError> {
    let l = lang_of(principal.user(), headers);
    let nav = Nav::load(state, principal, l, csrf, "admin").await?;
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

#[allow(
    clippy::too_many_lines,
    reason = "a view model: each column of the table, top to bottom"
)]
async fn users_page(
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

#[allow(
    clippy::too_many_lines,
    reason = "a view model: each team with members, load and presence"
)]
async fn teams_page(
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

async fn channels_page(
    state: &AppState,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<ChannelsPage, AppError> {
    let teams = state.identity.list_teams().await?;
    let channels = state
        .inbox
        .channels()
        .await?
        .into_iter()
        .map(|c| ChannelLine {
            teams: teams
                .iter()
                .map(|t| Choice {
                    selected: c.team_id.as_deref() == Some(t.id.as_str()),
                    id: t.id.clone(),
                    name: t.name.clone(),
                })
                .collect(),
            conversations: l.number(c.conversations),
            id: c.id,
            number: c.display_phone_number,
            phone_number_id: c.phone_number_id,
            name: c.name,
        })
        .collect();
    Ok(ChannelsPage {
        l,
        title,
        nav,
        head,
        channels,
    })
}

async fn inbox_page(
    state: &AppState,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> Result<InboxSettingsPage, AppError> {
    Ok(InboxSettingsPage {
        l,
        title,
        nav,
        head,
        canned: state.desk.canned_replies().await?,
        labels: state.desk.labels().await?,
    })
}

fn policies_page(
    state: &AppState,
    principal: &Principal,
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
) -> PoliciesPage {
    let policy = (*state.identity.policy()).clone();
    let allowlists = ALLOWLIST_SUBJECTS
        .iter()
        .map(|subject| Allowlist {
            subject,
            label: if *subject == "token" {
                l.t("api-tokens")
            } else {
                role_text(l, subject)
            },
            networks: policy
                .ip_allowlist
                .get(*subject)
                .map(|nets| {
                    nets.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        })
        .collect();
    let address = principal.client.ip.to_string();
    PoliciesPage {
        l,
        title,
        nav,
        head,
        policy,
        allowlists,
        allowlist_help: l.tr("policy-allowlist-help", &[("address", Arg::Text(&address))]),
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
        show(
            &self.state,
            &self.principal,
            &self.csrf,
            &self.headers,
            section,
            extra,
            status,
        )
        .await
    }

    /// After a change: back to the section (303), or the section again with the reason it was
    /// refused.
    async fn finish<T, E: Into<AppError>>(
        &self,
        section: Section,
        outcome: Result<T, E>,
    ) -> Result<Response, AppError> {
        finish(
            &self.state,
            &self.principal,
            &self.csrf,
            &self.headers,
            section,
            outcome.map(|_| ()).map_err(Into::into),
        )
        .await
    }
}

/// After a change: back to the section (303), or the section again with the reason it was
/// refused.
async fn finish(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    headers: &HeaderMap,
    section: Section,
    outcome: Result<(), AppError>,
) -> Result<Response, AppError> {
    let error = match outcome {
        Ok(()) => return Ok(Redirect::to(section.path()).into_response()),
        Err(e) => e,
    };
    let l = lang_of(principal.user(), headers);
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
    show(state, principal, csrf, headers, section, extra, status).await
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

/// `POST /admin/guard`: the guard's action per detector and direction (recorded), or the
/// defaults with `reset`.
pub async fn save_guard(page: Page, body: Bytes) -> Result<Response, AppError> {
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let outcome: Result<(), AppError> = async {
        let policy = if fields.contains_key("reset") {
            crate::guard::policy::Policy::default()
        } else {
            crate::http::ui::guard::policy_from(&fields).map_err(AppError::BadRequest)?
        };
        page.state.set_guard_policy(&page.principal, policy).await?;
        Ok(())
    }
    .await;
    page.finish(Section::Guard, outcome).await
}

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
            show(
                &page.state,
                &page.principal,
                &page.csrf,
                &page.headers,
                Section::Users,
                extra,
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => {
            finish(
                &page.state,
                &page.principal,
                &page.csrf,
                &page.headers,
                Section::Users,
                Err(e),
            )
            .await
        }
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

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
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

#[derive(Deserialize)]
pub struct ChannelForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    team: String,
}

/// `POST /admin/channels/{id}`: name, and the team its conversations go to.
pub async fn update_channel(
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<ChannelForm>,
) -> Result<Response, AppError> {
    let team = (!form.team.is_empty()).then_some(form.team.as_str());
    let outcome = page
        .state
        .desk
        .set_channel(&page.principal, &id, &form.name, team)
        .await;
    page.finish(Section::Channels, outcome).await
}

#[derive(Deserialize)]
pub struct CannedForm {
    shortcut: String,
    body: String,
}

/// `POST /admin/canned`
pub async fn add_canned(page: Page, Form(form): Form<CannedForm>) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .add_canned_reply(&page.principal, &form.shortcut, &form.body)
        .await;
    page.finish(Section::Inbox, outcome).await
}

/// `POST /admin/labels`
pub async fn add_label(page: Page, Form(form): Form<NameForm>) -> Result<Response, AppError> {
    let outcome = page
        .state
        .desk
        .add_label_definition(&page.principal, &form.name)
        .await;
    page.finish(Section::Inbox, outcome).await
}

/// A delete of the replies-and-labels section: `POST /admin/…/{id}/delete`.
macro_rules! inbox_delete {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        pub async fn $name(page: Page, Path(id): Path<String>) -> Result<Response, AppError> {
            let outcome = page.state
                .desk
                .$method(&page.principal, &id)
                .await;
            page.finish(Section::Inbox, outcome).await
        }
    };
}

inbox_delete!(
    /// `POST /admin/canned/{id}/delete`
    delete_canned,
    delete_canned_reply
);
inbox_delete!(
    /// `POST /admin/labels/{id}/delete`
    delete_label,
    delete_label
);

/// `POST /admin/policies` (re-authentication required): timeouts and allowlists
/// (`allow_<role>` fields, one per role and `allow_token`; empty means no restriction).
pub async fn save_policies(page: Page, body: Bytes) -> Result<Response, AppError> {
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let outcome: Result<(), AppError> = async {
        let number = |key: &str| -> Result<u64, AppError> {
            fields
                .get(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| AppError::BadRequest(format!("{key} must be a whole number")))
        };
        let mut policy = AccessPolicy {
            session_idle_minutes: number("session_idle_minutes")?,
            session_absolute_hours: number("session_absolute_hours")?,
            reauth_minutes: number("reauth_minutes")?,
            ip_allowlist: std::collections::BTreeMap::new(),
        };
        for subject in ALLOWLIST_SUBJECTS {
            let text = fields
                .get(&format!("allow_{subject}"))
                .map_or("", String::as_str);
            let nets = AccessPolicy::parse_networks(text).map_err(AppError::BadRequest)?;
            if !nets.is_empty() {
                policy.ip_allowlist.insert(subject.to_owned(), nets);
            }
        }
        page.state
            .identity
            .set_policy(&page.principal, policy)
            .await?;
        Ok(())
    }
    .await;
    page.finish(Section::Policies, outcome).await
}

/// Newest first: what fired, who, where it went, and who acknowledged it.
async fn alerts_page(
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
