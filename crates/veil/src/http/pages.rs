//! The sign-in and account pages: server-rendered HTML (askama escapes every value), forms that
//! post back with a CSRF token, no script. The inbox pages come with issue 4.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use crate::http::AppState;
use crate::http::access::{ClientOf, Csrf, SignIn, clear_cookie, session_cookie};
use crate::identity::{
    AuthError, Principal, STAGE_ENROLL, STAGE_FULL, STAGE_PASSWORD, SessionToken,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    title: &'a str,
    error: Option<String>,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    title: &'a str,
    error: Option<String>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage<'a> {
    title: &'a str,
    error: Option<String>,
    csrf: &'a str,
    qr_svg: &'a str,
    secret: &'a str,
    uri: &'a str,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    title: &'a str,
    error: Option<String>,
    codes: Vec<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    title: &'a str,
    error: Option<String>,
    message: &'a str,
    next: &'a str,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    title: &'a str,
    error: Option<String>,
    name: &'a str,
    email: &'a str,
    token: &'a str,
}

struct SessionLine {
    id: String,
    created: String,
    last_seen: String,
    ip: String,
    user_agent: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    title: &'a str,
    error: Option<String>,
    csrf: &'a str,
    name: &'a str,
    email: &'a str,
    role: &'a str,
    codes_left: i64,
    reauth_minutes: u64,
    sessions: Vec<SessionLine>,
}

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn with_cookie(state: &AppState, token: &SessionToken, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(state.config.tls(), token.secret.expose_text()),
    );
    response
}

/// Status and text for a failed sign-in step.
fn failure(e: &AuthError) -> (StatusCode, String) {
    match e {
        AuthError::Throttled(_) | AuthError::Busy => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        AuthError::Password(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.to_string()),
        AuthError::NetworkDenied | AuthError::Forbidden => (StatusCode::FORBIDDEN, e.to_string()),
        AuthError::Store(_) | AuthError::Keys(_) | AuthError::Internal(_) => {
            tracing::error!(error = %e, "sign-in step failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong.".into(),
            )
        }
        other => (StatusCode::UNAUTHORIZED, other.to_string()),
    }
}

/// Time as UTC text for the session list.
fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub async fn login_page() -> Response {
    html(
        StatusCode::OK,
        &LoginPage {
            title: "Sign in",
            error: None,
            email: "",
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
}

pub async fn login(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    Form(form): Form<LoginForm>,
) -> Response {
    match state
        .identity
        .login(&form.email, &form.password, &client)
        .await
    {
        Ok(token) => {
            let next = if token.row.stage == STAGE_ENROLL {
                "/enroll"
            } else {
                "/login/2fa"
            };
            with_cookie(&state, &token, Redirect::to(next))
        }
        Err(e) => {
            let (status, text) = failure(&e);
            let email: String = form.email.chars().take(254).collect();
            html(
                status,
                &LoginPage {
                    title: "Sign in",
                    error: Some(text),
                    email: &email,
                },
            )
        }
    }
}

fn stage_redirect(stage: &str) -> Option<Response> {
    match stage {
        STAGE_FULL => Some(Redirect::to("/").into_response()),
        STAGE_ENROLL => Some(Redirect::to("/enroll").into_response()),
        STAGE_PASSWORD => Some(Redirect::to("/login/2fa").into_response()),
        _ => None,
    }
}

pub async fn second_factor_page(sign_in: SignIn) -> Response {
    if sign_in.session.stage != STAGE_PASSWORD {
        return stage_redirect(&sign_in.session.stage)
            .unwrap_or_else(|| Redirect::to("/login").into_response());
    }
    html(
        StatusCode::OK,
        &SecondFactorPage {
            title: "Two-factor authentication",
            error: None,
            csrf: &sign_in.csrf,
        },
    )
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn second_factor(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    sign_in: SignIn,
    Form(form): Form<CodeForm>,
) -> Response {
    match state
        .identity
        .second_factor(&sign_in.session, &sign_in.user, &form.code, &client)
        .await
    {
        Ok(ok) => match ok.recovery_codes_left {
            None => with_cookie(&state, &ok.session, Redirect::to("/")),
            Some(left) => {
                let message = format!(
                    "You signed in with a recovery code. It cannot be used again; {left} remain. If you did not do this, tell your administrator now."
                );
                let page = NoticePage {
                    title: "Recovery code used",
                    error: None,
                    message: &message,
                    next: "/",
                };
                with_cookie(&state, &ok.session, html(StatusCode::OK, &page))
            }
        },
        Err(e) => {
            let (status, text) = failure(&e);
            html(
                status,
                &SecondFactorPage {
                    title: "Two-factor authentication",
                    error: Some(text),
                    csrf: &sign_in.csrf,
                },
            )
        }
    }
}

pub async fn enroll_page(State(state): State<AppState>, sign_in: SignIn) -> Response {
    enroll_view(&state, &sign_in, None, StatusCode::OK).await
}

async fn enroll_view(
    state: &AppState,
    sign_in: &SignIn,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    if sign_in.session.stage != STAGE_ENROLL {
        return stage_redirect(&sign_in.session.stage)
            .unwrap_or_else(|| Redirect::to("/login").into_response());
    }
    // The user row in hand may predate the pending secret; read it again.
    let Ok(Some(user)) = state.store.user_by_id(&sign_in.user.id).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match state.identity.enrollment(&sign_in.session, &user).await {
        Ok(e) => html(
            status,
            &EnrollPage {
                title: "Set up two-factor authentication",
                error,
                csrf: &sign_in.csrf,
                qr_svg: &e.qr_svg,
                secret: &e.secret_base32,
                uri: &e.uri,
            },
        ),
        Err(e) => {
            let (status, _) = failure(&e);
            status.into_response()
        }
    }
}

pub async fn enroll(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    sign_in: SignIn,
    Form(form): Form<CodeForm>,
) -> Response {
    let Ok(Some(user)) = state.store.user_by_id(&sign_in.user.id).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match state
        .identity
        .confirm_enrollment(&sign_in.session, &user, &form.code, &client)
        .await
    {
        Ok((token, codes)) => {
            let page = RecoveryCodesPage {
                title: "Save your recovery codes",
                error: None,
                codes: codes.iter().map(|c| c.as_str()).collect(),
            };
            with_cookie(&state, &token, html(StatusCode::OK, &page))
        }
        Err(e) => {
            let (status, text) = failure(&e);
            enroll_view(&state, &sign_in, Some(text), status).await
        }
    }
}

pub async fn logout(State(state): State<AppState>, sign_in: SignIn) -> Response {
    let _ = state.identity.logout(&sign_in.session).await;
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(state.config.tls()));
    response
}

pub async fn setup_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.identity.setup_link_user(&token).await {
        Ok(user) => html(
            StatusCode::OK,
            &SetupPage {
                title: "Welcome to Veil",
                error: None,
                name: &user.display_name,
                email: &user.email,
                token: &token,
            },
        ),
        Err(_) => html(
            StatusCode::NOT_FOUND,
            &NoticePage {
                title: "Link not valid",
                error: None,
                message: "This setup link was used already or has expired. Ask your administrator for a new one.",
                next: "/login",
            },
        ),
    }
}

#[derive(Deserialize)]
pub struct SetupForm {
    password: SecretString,
}

pub async fn setup(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Response {
    match state
        .identity
        .complete_setup(&token, &form.password, &client)
        .await
    {
        Ok(session) => with_cookie(&state, &session, Redirect::to("/enroll")),
        Err(AuthError::NotFound) => setup_page(State(state), Path(token)).await,
        Err(e) => {
            let (status, text) = failure(&e);
            match state.identity.setup_link_user(&token).await {
                Ok(user) => html(
                    status,
                    &SetupPage {
                        title: "Welcome to Veil",
                        error: Some(text),
                        name: &user.display_name,
                        email: &user.email,
                        token: &token,
                    },
                ),
                Err(_) => status.into_response(),
            }
        }
    }
}

pub async fn home() -> Redirect {
    Redirect::to("/account")
}

pub async fn account(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
) -> Response {
    account_view(&state, &principal, &csrf, None, StatusCode::OK).await
}

async fn account_view(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (Some(user), Some(current)) = (principal.user(), principal.session()) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let (Ok(sessions), Ok(codes_left)) = (
        state.store.sessions_of(&user.id).await,
        state.store.recovery_codes_left(&user.id).await,
    ) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let sessions = sessions
        .into_iter()
        .map(|s| SessionLine {
            current: s.id == current.id,
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    html(
        status,
        &AccountPage {
            title: "Your account",
            error,
            csrf,
            name: &user.display_name,
            email: &user.email,
            role: &user.role,
            codes_left,
            reauth_minutes: state.config.auth.reauth_minutes,
            sessions,
        },
    )
}

pub async fn logout_others(State(state): State<AppState>, principal: Principal) -> Response {
    match state.identity.logout_others(&principal).await {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(e) => failure(&e).0.into_response(),
    }
}

pub async fn end_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match state.identity.end_own_session(&principal, &id).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e) => failure(&e).0.into_response(),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: SecretString,
    new: SecretString,
}

pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    Form(form): Form<PasswordForm>,
) -> Response {
    match state
        .identity
        .change_password(&principal, &form.current, &form.new)
        .await
    {
        Ok(token) => with_cookie(&state, &token, Redirect::to("/account")),
        Err(e) => {
            let (status, text) = failure(&e);
            account_view(&state, &principal, &csrf, Some(text), status).await
        }
    }
}

#[derive(Deserialize)]
pub struct ReauthForm {
    password: SecretString,
    code: String,
}

pub async fn reauth(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    Form(form): Form<ReauthForm>,
) -> Response {
    match state
        .identity
        .reauthenticate(&principal, &form.password, &form.code)
        .await
    {
        Ok(token) => with_cookie(&state, &token, Redirect::to("/account")),
        Err(e) => {
            let (status, text) = failure(&e);
            account_view(&state, &principal, &csrf, Some(text), status).await
        }
    }
}

/// New recovery codes (re-authentication required by the gate), shown once.
pub async fn new_recovery_codes(State(state): State<AppState>, principal: Principal) -> Response {
    match state.identity.regenerate_recovery_codes(&principal).await {
        Ok(codes) => html(
            StatusCode::OK,
            &RecoveryCodesPage {
                title: "Your new recovery codes",
                error: None,
                codes: codes.iter().map(|c| c.as_str()).collect(),
            },
        ),
        Err(e) => failure(&e).0.into_response(),
    }
}

/// The stylesheet (the only asset so far), cacheable.
pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../static/veil.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_render_as_utc_dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_800_000_000_000), "2027-01-15 08:00 UTC");
        assert_eq!(super::when(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
