//! The sign-in and account pages: server-rendered HTML (askama escapes every value), forms that
//! post back with a CSRF token, no script; in the user's language (`i18n`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;

use axum::http::HeaderMap;

use crate::http::AppState;
use crate::http::access::{ClientOf, Csrf, SignIn, clear_cookie, session_cookie};
use crate::http::ui::layout::{Nav, iso, lang_of, render};
use crate::i18n::{Arg, Lang};
use crate::identity::{
    AuthError, Principal, STAGE_ENROLL, STAGE_FULL, STAGE_PASSWORD, SessionToken,
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    csrf: &'a str,
    qr_svg: &'a str,
    secret: &'a str,
    uri: &'a str,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    codes: Vec<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    message: String,
    next: &'a str,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    intro: String,
    token: &'a str,
}

struct SessionLine {
    id: String,
    created: String,
    created_iso: String,
    last_seen: String,
    last_seen_iso: String,
    ip: String,
    user_agent: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    l: Lang,
    title: String,
    error: Option<String>,
    nav: Nav,
    signed_in_as: String,
    reauth_intro: String,
    language: &'a str,
    languages: Vec<(&'static str, &'static str, bool)>,
    sessions: Vec<SessionLine>,
}

fn html(status: StatusCode, page: &impl Template) -> Response {
    render(status, page)
}

fn with_cookie(state: &AppState, token: &SessionToken, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(state.config.tls(), token.secret.expose_text()),
    );
    response
}

/// A completed sign-in: the session cookie and a fresh device cookie for this browser.
fn signed_in(state: &AppState, token: &SessionToken, response: impl IntoResponse) -> Response {
    let mut response = with_cookie(state, token, response);
    let device = state.identity.device_cookie(&token.row.user_id);
    response.headers_mut().append(
        header::SET_COOKIE,
        crate::http::access::device_cookie(state.config.tls(), &device),
    );
    response
}

/// What to tell the person about a failed step, in the page's language.
fn failure_text(l: Lang, e: &AuthError) -> String {
    use crate::identity::password::PasswordRejected as R;
    match e {
        AuthError::Throttled(seconds) => {
            l.tr("error-throttled", &[("seconds", Arg::Count(*seconds))])
        }
        AuthError::Busy => l.t("error-busy"),
        AuthError::Password(why) => l.t(match why {
            R::TooShort => "error-password-short",
            R::TooLong => "error-password-long",
            R::Guessable => "error-password-guessable",
        }),
        AuthError::NetworkDenied => l.t("error-network"),
        AuthError::Forbidden => l.t("error-forbidden"),
        AuthError::Store(_) | AuthError::Keys(_) | AuthError::Internal(_) => l.t("error-internal"),
        AuthError::InvalidCode => l.t("error-code"),
        AuthError::ReauthRequired => l.t("error-reauth"),
        AuthError::Invalid(why) => l.tr("error-invalid", &[("why", Arg::Text(why))]),
        _ => l.t("error-credentials"),
    }
}

/// Status and text for a failed step.
fn failure(l: Lang, e: &AuthError) -> (StatusCode, String) {
    (crate::http::error::auth_status(e), failure_text(l, e))
}

fn browser_lang(headers: &HeaderMap) -> Lang {
    lang_of(None, headers)
}

fn login_view(l: Lang, error: Option<String>, email: &str) -> LoginPage<'_> {
    LoginPage {
        l,
        title: l.t("sign-in-title"),
        error,
        email,
    }
}

pub async fn login_page(headers: HeaderMap) -> Response {
    html(
        StatusCode::OK,
        &login_view(browser_lang(&headers), None, ""),
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
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    match state
        .identity
        .login(
            &form.email,
            &form.password,
            &client,
            crate::http::access::device_of(&headers, state.config.tls()).as_deref(),
        )
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
            let l = browser_lang(&headers);
            let (status, text) = failure(l, &e);
            let email: String = form.email.chars().take(254).collect();
            html(status, &login_view(l, Some(text), &email))
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

fn second_factor_view(l: Lang, error: Option<String>, csrf: &str) -> SecondFactorPage<'_> {
    SecondFactorPage {
        l,
        title: l.t("two-factor-title"),
        error,
        csrf,
    }
}

pub async fn second_factor_page(sign_in: SignIn, headers: HeaderMap) -> Response {
    if sign_in.session.stage != STAGE_PASSWORD {
        return stage_redirect(&sign_in.session.stage)
            .unwrap_or_else(|| Redirect::to("/login").into_response());
    }
    let l = lang_of(Some(&sign_in.user), &headers);
    html(StatusCode::OK, &second_factor_view(l, None, &sign_in.csrf))
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn second_factor(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    sign_in: SignIn,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let l = lang_of(Some(&sign_in.user), &headers);
    match state
        .identity
        .second_factor(&sign_in.session, &sign_in.user, &form.code, &client)
        .await
    {
        Ok(ok) => match ok.recovery_codes_left {
            None => signed_in(&state, &ok.session, Redirect::to("/")),
            Some(left) => {
                let page = NoticePage {
                    l,
                    title: l.t("recovery-used-title"),
                    error: None,
                    message: l.tr("recovery-used", &[("count", Arg::Count(left))]),
                    next: "/",
                };
                signed_in(&state, &ok.session, html(StatusCode::OK, &page))
            }
        },
        Err(e) => {
            let (status, text) = failure(l, &e);
            html(status, &second_factor_view(l, Some(text), &sign_in.csrf))
        }
    }
}

pub async fn enroll_page(
    State(state): State<AppState>,
    sign_in: SignIn,
    headers: HeaderMap,
) -> Response {
    enroll_view(&state, &sign_in, &headers, None, StatusCode::OK).await
}

async fn enroll_view(
    state: &AppState,
    sign_in: &SignIn,
    headers: &HeaderMap,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    if sign_in.session.stage != STAGE_ENROLL {
        return stage_redirect(&sign_in.session.stage)
            .unwrap_or_else(|| Redirect::to("/login").into_response());
    }
    // The user row in hand may predate the pending secret; read it again.
    let Ok(Some(user)) = state.identity.user_by_id(&sign_in.user.id).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let l = lang_of(Some(&user), headers);
    match state.identity.enrollment(&sign_in.session, &user).await {
        Ok(e) => html(
            status,
            &EnrollPage {
                l,
                title: l.t("enroll-title"),
                error,
                csrf: &sign_in.csrf,
                qr_svg: &e.qr_svg,
                secret: &e.secret_base32,
                uri: &e.uri,
            },
        ),
        Err(e) => crate::http::error::auth_status(&e).into_response(),
    }
}

pub async fn enroll(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    sign_in: SignIn,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let Ok(Some(user)) = state.identity.user_by_id(&sign_in.user.id).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let l = lang_of(Some(&user), &headers);
    match state
        .identity
        .confirm_enrollment(&sign_in.session, &user, &form.code, &client)
        .await
    {
        Ok((token, codes)) => {
            let page = RecoveryCodesPage {
                l,
                title: l.t("recovery-title"),
                error: None,
                codes: codes.iter().map(|c| c.as_str()).collect(),
            };
            signed_in(&state, &token, html(StatusCode::OK, &page))
        }
        Err(e) => {
            let (status, text) = failure(l, &e);
            enroll_view(&state, &sign_in, &headers, Some(text), status).await
        }
    }
}

pub async fn logout(State(state): State<AppState>, sign_in: SignIn) -> Response {
    // A sign-out that cannot be recorded does not happen: the session stays, and the page says so.
    if let Err(e) = state.identity.logout(&sign_in.session).await {
        return crate::http::error::auth_status(&e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(state.config.tls()));
    response
}

fn setup_view<'a>(
    l: Lang,
    user: &crate::identity::UserRow,
    token: &'a str,
    error: Option<String>,
) -> SetupPage<'a> {
    SetupPage {
        l,
        title: l.t("setup-title"),
        error,
        intro: l.tr(
            "setup-intro",
            &[
                ("name", Arg::Text(&user.display_name)),
                ("email", Arg::Text(&user.email)),
            ],
        ),
        token,
    }
}

pub async fn setup_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match state.identity.setup_link_user(&token).await {
        Ok(user) => {
            let l = lang_of(Some(&user), &headers);
            html(StatusCode::OK, &setup_view(l, &user, &token, None))
        }
        Err(_) => {
            let l = browser_lang(&headers);
            html(
                StatusCode::NOT_FOUND,
                &NoticePage {
                    l,
                    title: l.t("link-invalid-title"),
                    error: None,
                    message: l.t("link-invalid"),
                    next: "/login",
                },
            )
        }
    }
}

#[derive(Deserialize)]
pub struct SetupForm {
    password: SecretString,
}

pub async fn setup(
    State(state): State<AppState>,
    ClientOf(client): ClientOf,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Response {
    match state
        .identity
        .complete_setup(&token, &form.password, &client)
        .await
    {
        Ok(session) => with_cookie(&state, &session, Redirect::to("/enroll")),
        Err(AuthError::NotFound) => setup_page(State(state), headers, Path(token)).await,
        Err(e) => match state.identity.setup_link_user(&token).await {
            Ok(user) => {
                let l = lang_of(Some(&user), &headers);
                let (status, text) = failure(l, &e);
                html(status, &setup_view(l, &user, &token, Some(text)))
            }
            Err(_) => crate::http::error::auth_status(&e).into_response(),
        },
    }
}

/// `/`: the inbox for those who may read conversations, the audit log for auditors, the account
/// page for everyone else.
pub async fn home(principal: Principal) -> Redirect {
    if principal.conversation_scope().is_some() {
        Redirect::to("/inbox")
    } else if principal.can(crate::identity::Permission::AuditRead) {
        Redirect::to("/audit")
    } else {
        Redirect::to("/account")
    }
}

pub async fn account(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
) -> Response {
    account_view(&state, &principal, &csrf, &headers, None, StatusCode::OK).await
}

async fn account_view(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    headers: &HeaderMap,
    error: Option<&AuthError>,
    status: StatusCode,
) -> Response {
    let (Some(user), Some(current)) = (principal.user(), principal.session()) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let l = lang_of(Some(user), headers);
    let (Ok(sessions), Ok(codes_left), Ok(nav)) = (
        state.identity.sessions_of(&user.id).await,
        state.identity.recovery_codes_left(&user.id).await,
        Nav::load(state, principal, l, csrf, "account").await,
    ) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let sessions = sessions
        .into_iter()
        .map(|s| SessionLine {
            current: s.id == current.id,
            created: l.datetime(s.created_at),
            created_iso: iso(s.created_at),
            last_seen: l.datetime(s.last_seen_at),
            last_seen_iso: iso(s.last_seen_at),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    let minutes = i64::try_from(state.identity.policy().reauth_minutes).unwrap_or(i64::MAX);
    html(
        status,
        &AccountPage {
            l,
            title: l.t("account-title"),
            error: error.map(|e| failure_text(l, e)),
            nav,
            signed_in_as: l.tr(
                "account-signed-in-as",
                &[
                    ("name", Arg::Text(&user.display_name)),
                    ("email", Arg::Text(&user.email)),
                    ("role", Arg::Text(&user.role)),
                    ("count", Arg::Count(codes_left)),
                ],
            ),
            reauth_intro: l.tr("reauth-intro", &[("minutes", Arg::Count(minutes))]),
            language: &user.language,
            languages: Lang::ALL
                .iter()
                .map(|l| (l.code(), l.native_name(), user.language == l.code()))
                .collect(),
            sessions,
        },
    )
}

#[derive(Deserialize)]
pub struct LanguageForm {
    language: String,
}

/// `POST /account/language`: one of ours, or `auto` (the browser's).
pub async fn set_language(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<LanguageForm>,
) -> Response {
    if principal.user().is_none() {
        return StatusCode::FORBIDDEN.into_response();
    }
    if !crate::i18n::is_choice(&form.language) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match state
        .identity
        .set_language(&principal, &form.language)
        .await
    {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e) => crate::http::error::auth_status(&e).into_response(),
    }
}

pub async fn logout_others(State(state): State<AppState>, principal: Principal) -> Response {
    match state.identity.logout_others(&principal).await {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(e) => crate::http::error::auth_status(&e).into_response(),
    }
}

pub async fn end_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match state.identity.end_own_session(&principal, &id).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e) => crate::http::error::auth_status(&e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: SecretString,
    /// The second factor: a code or a recovery code.
    code: String,
    new: SecretString,
}

pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    match state
        .identity
        .change_password(&principal, &form.current, &form.code, &form.new)
        .await
    {
        Ok(token) => with_cookie(&state, &token, Redirect::to("/account")),
        Err(e) => {
            let status = crate::http::error::auth_status(&e);
            account_view(&state, &principal, &csrf, &headers, Some(&e), status).await
        }
    }
}

#[derive(Deserialize)]
pub struct ReauthForm {
    password: SecretString,
    code: String,
    /// Where to go afterwards: an admin page, else the account page.
    #[serde(default)]
    next: String,
}

/// Only the admin pages may be named as the place to return to (no open redirect).
fn after_reauth(next: &str) -> &str {
    let safe = next.starts_with("/admin/")
        && next
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'/' || b == b'-');
    if safe { next } else { "/account" }
}

pub async fn reauth(
    State(state): State<AppState>,
    principal: Principal,
    Csrf(csrf): Csrf,
    headers: HeaderMap,
    Form(form): Form<ReauthForm>,
) -> Response {
    match state
        .identity
        .reauthenticate(&principal, &form.password, &form.code)
        .await
    {
        Ok(token) => with_cookie(&state, &token, Redirect::to(after_reauth(&form.next))),
        Err(e) => {
            let status = crate::http::error::auth_status(&e);
            account_view(&state, &principal, &csrf, &headers, Some(&e), status).await
        }
    }
}

/// New recovery codes (re-authentication required by the gate), shown once.
pub async fn new_recovery_codes(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Response {
    let l = lang_of(principal.user(), &headers);
    match state.identity.regenerate_recovery_codes(&principal).await {
        Ok(codes) => html(
            StatusCode::OK,
            &RecoveryCodesPage {
                l,
                title: l.t("recovery-new-title"),
                error: None,
                codes: codes.iter().map(|c| c.as_str()).collect(),
            },
        ),
        Err(e) => crate::http::error::auth_status(&e).into_response(),
    }
}

/// A static asset compiled into the binary, cacheable (it carries no customer data).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The stylesheet.
pub async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/veil.css"),
    )
}

/// The inbox script.
pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/inbox.js"),
    )
}
