//! The JSON API for people and access: who am I, users, teams, tokens, assignment, revealing a
//! number, and the access record. Authorization happened in the gate; what is left here are the
//! object-level rules (rank, scope), which live in `identity`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::AppError;
use crate::http::AppState;
use crate::identity::{
    Actor, Permission, Permissions, Principal, Role, STATUS_ACTIVE, STATUS_DISABLED,
};
use crate::identity::{ApiTokenRow, UserChange, UserRow};

#[derive(Serialize)]
struct UserJson {
    id: String,
    email: String,
    display_name: String,
    role: String,
    status: String,
    language: String,
    two_factor: bool,
}

impl From<UserRow> for UserJson {
    fn from(u: UserRow) -> Self {
        Self {
            two_factor: u.totp_secret_ct.is_some(),
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            status: u.status,
            language: u.language,
        }
    }
}

#[derive(Serialize)]
struct TokenJson {
    id: String,
    name: String,
    scopes: Vec<String>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    created_by: Option<String>,
    last_used_at: Option<i64>,
}

impl From<ApiTokenRow> for TokenJson {
    fn from(t: ApiTokenRow) -> Self {
        Self {
            scopes: t
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            created_by: t.created_by,
            last_used_at: t.last_used_at,
        }
    }
}

fn permission_names(p: Permissions) -> Vec<&'static str> {
    p.iter().map(Permission::as_str).collect()
}

/// `GET /api/v1/me`
pub async fn me(principal: Principal) -> Json<serde_json::Value> {
    let who = match &principal.actor {
        Actor::User { user, role, .. } => json!({
            "kind": "user", "id": user.id, "email": user.email, "display_name": user.display_name,
            "role": role.as_str(), "language": user.language,
        }),
        Actor::Token(t) => json!({"kind": "token", "id": t.id, "name": t.name}),
    };
    Json(json!({"principal": who, "permissions": permission_names(principal.permissions)}))
}

/// `GET /api/v1/users`
pub async fn list_users(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, AppError> {
    let users: Vec<UserJson> = state
        .identity
        .list_users()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({"users": users})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserJson {
    email: String,
    display_name: String,
    role: String,
    #[serde(default = "browser_language")]
    language: String,
}

fn browser_language() -> String {
    crate::i18n::AUTO.into()
}

/// `POST /api/v1/users`: answers the setup link (shown once).
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewUserJson>,
) -> Result<Response, AppError> {
    let role =
        Role::parse(&body.role).ok_or_else(|| AppError::BadRequest("unknown role".into()))?;
    let (user, link) = state
        .identity
        .invite_user(
            &principal,
            &body.email,
            &body.display_name,
            role,
            &body.language,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        // A token never gets the link: it went to the invitee by e-mail (null here).
        Json(
            json!({"user": UserJson::from(user), "setup_link": link.as_ref().map(|l| l.as_str())}),
        ),
    )
        .into_response())
}

async fn change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    change: UserChange,
    action: &str,
) -> Result<Json<serde_json::Value>, AppError> {
    let disabling = matches!(&change, UserChange::Status(s) if s == STATUS_DISABLED);
    if disabling && principal.user().is_some_and(|u| u.id == id) {
        return Err(AppError::BadRequest("you cannot disable yourself".into()));
    }
    let user = state
        .identity
        .administer_user(Some(principal), id, &change, action)
        .await?;
    Ok(Json(json!({"user": UserJson::from(user)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleJson {
    role: String,
}

/// `POST /api/v1/users/{id}/role` (re-authentication required)
pub async fn set_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<RoleJson>,
) -> Result<Json<serde_json::Value>, AppError> {
    change(
        &state,
        &principal,
        &id,
        UserChange::Role(body.role),
        "user.role",
    )
    .await
}

/// A `POST /api/v1/users/{id}/…` that makes one change to the user and answers with it.
macro_rules! user_change {
    ($(#[$doc:meta])* $name:ident, $change:expr, $action:literal) => {
        $(#[$doc])*
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            Path(id): Path<String>,
        ) -> Result<Json<serde_json::Value>, AppError> {
            change(&state, &principal, &id, $change, $action).await
        }
    };
}

user_change!(
    /// `POST /api/v1/users/{id}/disable`: ends every session at once.
    disable_user,
    UserChange::Status(STATUS_DISABLED.into()),
    "user.disable"
);
user_change!(
    /// `POST /api/v1/users/{id}/enable` (re-authentication required)
    enable_user,
    UserChange::Status(STATUS_ACTIVE.into()),
    "user.enable"
);
user_change!(
    /// `POST /api/v1/users/{id}/reset-2fa` (re-authentication required)
    reset_second_factor,
    UserChange::ResetSecondFactor,
    "user.reset_2fa"
);

/// `POST /api/v1/users/{id}/logout`: ends every session of the user.
pub async fn logout_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let ended = state.identity.logout_user(Some(&principal), &id).await?;
    Ok(Json(json!({"sessions_ended": ended})))
}

/// `POST /api/v1/users/{id}/unlock`: lifts the login lock of the account.
pub async fn unlock_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    state.identity.unlock(Some(&principal), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct SessionJson {
    id: String,
    stage: String,
    created_at: i64,
    last_seen_at: i64,
    ip: String,
    user_agent: String,
}

/// `GET /api/v1/users/{id}/sessions`
pub async fn user_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let sessions: Vec<SessionJson> = state
        .identity
        .sessions_of_user(&principal, &id)
        .await?
        .into_iter()
        .map(|s| SessionJson {
            id: s.id,
            stage: s.stage,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(Json(json!({"sessions": sessions})))
}

#[derive(Serialize)]
struct TeamJson {
    id: String,
    name: String,
}

/// `GET /api/v1/teams`
pub async fn list_teams(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, AppError> {
    let teams: Vec<TeamJson> = state
        .identity
        .list_teams()
        .await?
        .into_iter()
        .map(|t| TeamJson {
            id: t.id,
            name: t.name,
        })
        .collect();
    Ok(Json(json!({"teams": teams})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeamJson {
    name: String,
}

/// `POST /api/v1/teams`
pub async fn create_team(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewTeamJson>,
) -> Result<Response, AppError> {
    let team = state.identity.create_team(&principal, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"team": TeamJson { id: team.id, name: team.name }})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberJson {
    user_id: String,
}

/// `POST /api/v1/teams/{id}/members`
pub async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<MemberJson>,
) -> Result<StatusCode, AppError> {
    state
        .identity
        .add_team_member(&principal, &id, &body.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignJson {
    assignee_id: Option<String>,
    team_id: Option<String>,
}

/// `POST /api/v1/conversations/{id}/assign`
pub async fn assign(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<AssignJson>,
) -> Result<StatusCode, AppError> {
    state
        .desk
        .assign(
            &principal,
            &id,
            body.assignee_id.as_deref(),
            body.team_id.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The full number of a conversation's contact, for the API and the inbox page alike: within
/// the caller's scope, and recorded.
pub(crate) async fn reveal_and_record(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Option<String>, AppError> {
    let scope = principal.conversation_scope().ok_or(AppError::Forbidden)?;
    let number = state.inbox.reveal_number(id, &scope).await?;
    state
        .identity
        .record(
            principal,
            "contact.reveal_phone",
            &format!("conversation:{id}"),
        )
        .await?;
    Ok(number)
}

/// `POST /api/v1/conversations/{id}/reveal-number`: the full number, recorded.
pub async fn reveal_number(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let number = reveal_and_record(&state, &principal, &id).await?;
    Ok(Json(json!({"number": number})))
}

/// `GET /api/v1/tokens`
pub async fn list_tokens(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, AppError> {
    let tokens: Vec<TokenJson> = state
        .identity
        .list_api_tokens()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({"tokens": tokens})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenJson {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<u32>,
}

/// `POST /api/v1/tokens` (re-authentication required): the token is in this answer only.
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewTokenJson>,
) -> Result<Response, AppError> {
    let scopes = Permissions::parse_names(&body.scopes.join(" "))
        .map_err(|name| AppError::BadRequest(format!("unknown scope {name:?}")))?;
    let expires_at = body
        .expires_in_days
        .map(|d| state.clock.now_ms() + i64::from(d) * 86_400_000);
    let (row, secret) = state
        .identity
        .create_token(Some(&principal), &body.name, scopes, expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": TokenJson::from(row), "secret": secret.expose_text()})),
    )
        .into_response())
}

/// `DELETE /api/v1/tokens/{id}`
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !state.identity.revoke_token(Some(&principal), &id).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Limit {
    limit: Option<i64>,
}

/// `GET /api/v1/access-log`: deliberate accesses, newest first.
pub async fn access_log(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<serde_json::Value>, AppError> {
    let rows = state
        .identity
        .access_log(q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    let entries: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| json!({"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target, "ip": r.ip}))
        .collect();
    Ok(Json(json!({"entries": entries})))
}
