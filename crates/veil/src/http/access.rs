//! The gate in front of every route: who is calling (session cookie or bearer token), from where
//! (trusted-proxy aware), whether they may (the route's `Access`), and CSRF for browsers.
//!
//! Each route in `routes::table()` names its `Access`; `guard` enforces it before the handler
//! runs and leaves a `Principal` (or a `SignIn`) in the request for the handler.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;

use crate::error::AppError;
use crate::http::AppState;
use crate::identity::{
    AuthError, Client, Identity, Permission, Principal, STAGE_ENROLL, STAGE_FULL, csrf_token,
    network,
};
use crate::identity::{SessionRow, UserRow};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login pages, health).
    Public,
    /// Anyone; Meta's signature on the body decides (checked by the handler).
    Webhook,
    /// A browser session at any stage (password done, second factor maybe not yet).
    SignIn,
    /// A browser session with both factors, any role. Not for tokens.
    Session,
    /// A browser session with both factors holding at least one of these permissions (the web
    /// inbox). Not for tokens.
    Page(&'static [Permission]),
    /// A session or API token holding at least one of these permissions.
    Api(&'static [Permission]),
}

/// How a route is guarded.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub access: Access,
    /// Needs password and code re-entered within `auth.reauth_minutes`.
    pub reauth: bool,
}

/// The cookie's name: `__Host-` (bound to this host, path `/`, secure) when served over TLS.
pub fn cookie_name(tls: bool) -> &'static str {
    if tls {
        "__Host-veil_session"
    } else {
        "veil_session"
    }
}

/// The `Set-Cookie` value that installs a session.
pub fn session_cookie(tls: bool, secret: &str) -> HeaderValue {
    let cookie = cookie::Cookie::build((cookie_name(tls), secret.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(tls)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(tls: bool) -> HeaderValue {
    let mut cookie = cookie::Cookie::build((cookie_name(tls), ""))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(tls)
        .build();
    cookie.make_removal();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The device cookie's name (see `Identity::device_cookie`).
fn device_cookie_name(tls: bool) -> &'static str {
    if tls {
        "__Host-veil_device"
    } else {
        "veil_device"
    }
}

/// The `Set-Cookie` value that marks this browser as one its user signed in with.
pub fn device_cookie(tls: bool, value: &str) -> HeaderValue {
    let cookie = cookie::Cookie::build((device_cookie_name(tls), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(tls)
        .max_age(cookie::time::Duration::days(crate::identity::DEVICE_DAYS))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The device cookie the browser sent, if any.
pub fn device_of(headers: &HeaderMap, tls: bool) -> Option<String> {
    cookie_value(headers, device_cookie_name(tls))
}

fn session_secret(headers: &HeaderMap, tls: bool) -> Option<String> {
    cookie_value(headers, cookie_name(tls))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// A browser session at any stage, for the sign-in pages.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub session: SessionRow,
    pub user: UserRow,
    pub csrf: String,
}

/// The CSRF token of the caller's session, for forms.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

/// The client of a request.
#[derive(Debug, Clone)]
pub struct ClientOf(pub Client);

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Browsers say where a request comes from; a cross-site state change is refused. Clients that
/// send neither header (scripts) pass here and meet the token check.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // Set by the browser itself (a page cannot forge it): decisive where present. Chromium
        // sends `Origin: null` on some same-origin navigations, so Origin alone would refuse them.
        Some("same-origin") => return true,
        Some(site) if site != "none" => return false,
        _ => {}
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin == public_url
        || origin == format!("http://{host}")
        || origin == format!("https://{host}")
}

/// Checks the synchronizer token: `X-CSRF-Token`, or a `csrf` field of a form body (which is read
/// and put back).
async fn csrf_ok(request: Request, expected: &str) -> Result<Request, Response> {
    let header_token = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let matches = |token: &str| bool::from(token.as_bytes().ct_eq(expected.as_bytes()));
    if header_token.as_deref().is_some_and(matches) {
        return Ok(request);
    }
    if is_form {
        let (parts, body) = request.into_parts();
        let bytes = to_bytes(body, 64 * 1024)
            .await
            .map_err(|_| AppError::PayloadTooLarge.into_response())?;
        let found = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .is_some_and(|(_, v)| matches(&v));
        if found {
            return Ok(Request::from_parts(parts, Body::from(bytes)));
        }
    }
    Err(csrf_refused())
}

fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// What the gate learned about a request before deciding.
struct Seen {
    client: Client,
    cookie: Option<String>,
    unsafe_method: bool,
    cross_site: bool,
}

/// The guard middleware. `gate` is the route's entry in the table.
pub async fn guard(
    State((state, gate)): State<(AppState, Gate)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    // The webhook is the hot path and answers to its signature alone: nothing to resolve.
    if gate.access == Access::Webhook {
        return next.run(request).await;
    }
    let headers = request.headers();
    let forwarded = forwarded_for(headers);
    let ip = network::client_ip(
        peer.ip(),
        forwarded.as_deref(),
        &state.config.trusted_proxies,
    );
    let seen = Seen {
        client: Client::new(
            ip,
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
        cookie: session_secret(headers, state.config.tls()),
        unsafe_method: is_unsafe(request.method()),
        cross_site: !same_origin(headers, &state.config.public_url),
    };
    request
        .extensions_mut()
        .insert(ClientOf(seen.client.clone()));
    let admitted = match gate.access {
        // Anonymous forms (sign-in, setup) still refuse cross-site posts: no login CSRF.
        Access::Public if seen.unsafe_method && seen.cross_site => Err(csrf_refused()),
        Access::Public | Access::Webhook => Ok(request),
        Access::SignIn => sign_in(&state, seen, request).await,
        Access::Session => session(&state, gate, &[], seen, request).await,
        Access::Page(permissions) => session(&state, gate, permissions, seen, request).await,
        Access::Api(permissions) => api(&state, gate, permissions, seen, request).await,
    };
    match admitted {
        Ok(request) => next.run(request).await,
        Err(mut refused) => {
            // Marks the gate's refusals apart from the handlers' own answers (the
            // authorization test relies on it; it says nothing an attacker does not know).
            refused
                .headers_mut()
                .insert("x-veil-gate", HeaderValue::from_static("refused"));
            refused
        }
    }
}

type Admitted = Result<Request, Response>;

async fn sign_in(state: &AppState, seen: Seen, request: Request) -> Admitted {
    let Some(secret) = seen.cookie.as_deref() else {
        return Err(to_login());
    };
    let (session, user) = match state.identity.session(secret, &seen.client).await {
        Ok(found) => found,
        Err(AuthError::NoSession) => return Err(to_login()),
        Err(e) => return Err(AppError::from(e).into_response()),
    };
    let csrf = csrf_token(secret);
    let mut request = check_csrf(&seen, request, &csrf).await?;
    request.extensions_mut().insert(SignIn {
        session,
        user,
        csrf,
    });
    Ok(request)
}

/// For unsafe methods of a cookie session: same origin, and the synchronizer token.
async fn check_csrf(seen: &Seen, request: Request, csrf: &str) -> Admitted {
    if !seen.unsafe_method {
        return Ok(request);
    }
    if seen.cross_site {
        return Err(csrf_refused());
    }
    csrf_ok(request, csrf).await
}

/// A full browser session; with `permissions` not empty, it must hold one of them.
async fn session(
    state: &AppState,
    gate: Gate,
    permissions: &[Permission],
    seen: Seen,
    request: Request,
) -> Admitted {
    let Some(secret) = seen.cookie.as_deref() else {
        return Err(to_login());
    };
    let (session, user) = match state.identity.session(secret, &seen.client).await {
        Ok(found) => found,
        Err(AuthError::NoSession) => return Err(to_login()),
        Err(e) => return Err(AppError::from(e).into_response()),
    };
    // A half-finished sign-in is sent on to its next step.
    match session.stage.as_str() {
        STAGE_FULL => {}
        STAGE_ENROLL => return Err(Redirect::to("/enroll").into_response()),
        _ => return Err(Redirect::to("/login/2fa").into_response()),
    }
    let principal = Identity::principal(session, user, &seen.client)
        .map_err(|e| AppError::from(e).into_response())?;
    if !permissions.is_empty() && !permissions.iter().any(|p| principal.can(*p)) {
        return Err(AppError::Forbidden.into_response());
    }
    let csrf = Some(csrf_token(secret));
    admit(state, gate, principal, csrf, &seen, request).await
}

async fn api(
    state: &AppState,
    gate: Gate,
    permissions: &[Permission],
    seen: Seen,
    request: Request,
) -> Admitted {
    let found = if let Some(token) = bearer(request.headers()) {
        state
            .identity
            .principal_for_token(token, &seen.client)
            .await
            .map(|p| (p, None))
    } else if let Some(secret) = seen.cookie.as_deref() {
        state
            .identity
            .principal_for_session(secret, &seen.client)
            .await
            .map(|p| (p, Some(csrf_token(secret))))
    } else {
        Err(AuthError::NoSession)
    };
    let (principal, csrf) = found.map_err(|e| AppError::from(e).into_response())?;
    if !permissions.iter().any(|p| principal.can(*p)) {
        return Err(AppError::Forbidden.into_response());
    }
    admit(state, gate, principal, csrf, &seen, request).await
}

/// The common end of `Session` and `Api`: re-authentication, CSRF for cookie sessions, then the
/// principal goes into the request for the handler.
async fn admit(
    state: &AppState,
    gate: Gate,
    principal: Principal,
    csrf: Option<String>,
    seen: &Seen,
    request: Request,
) -> Admitted {
    if gate.reauth {
        state
            .identity
            .require_recent_auth(&principal)
            .map_err(|e| AppError::from(e).into_response())?;
    }
    let mut request = match csrf {
        Some(csrf) => {
            let mut request = check_csrf(seen, request, &csrf).await?;
            request.extensions_mut().insert(Csrf(csrf));
            request
        }
        None => request,
    };
    request.extensions_mut().insert(principal);
    Ok(request)
}

macro_rules! from_extension {
    ($ty:ty) => {
        impl<S: Send + Sync> FromRequestParts<S> for $ty {
            type Rejection = AppError;
            async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
                parts
                    .extensions
                    .get::<$ty>()
                    .cloned()
                    .ok_or(AppError::Unauthorized)
            }
        }
    };
}

/// What a page's handler needs besides its path and form: the domain handle, the caller, the
/// page's CSRF token and the request headers (for the language). One extractor instead of four
/// parameters repeated on every handler.
pub struct Page {
    pub state: AppState,
    pub principal: Principal,
    pub csrf: String,
    pub headers: axum::http::HeaderMap,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let Csrf(csrf) = Csrf::from_request_parts(parts, state).await?;
        Ok(Self {
            state: state.clone(),
            principal,
            csrf,
            headers: parts.headers.clone(),
        })
    }
}

from_extension!(Principal);
from_extension!(SignIn);
from_extension!(Csrf);
from_extension!(ClientOf);

/// Every `X-Forwarded-For` line, in order, as one list (RFC 9110 §5.3: several lines of a list
/// header are one list). A line that is not text becomes a hop that parses as no address, so the
/// chain stops there.
fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<String> {
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("?"))
        .collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn forwarded_for_lines_are_one_list_in_order() {
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(forwarded_for(&headers), None);
        headers.append("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        headers.append("x-forwarded-for", "198.51.100.7".parse().unwrap());
        let list = forwarded_for(&headers).unwrap();
        assert_eq!(list, "203.0.113.9, 10.0.0.2,198.51.100.7");
        // Behind one trusted proxy, the client is the right-most hop of the whole list: an
        // attacker's own first line cannot hide the address the proxy appended last.
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        let ip = network::client_ip("127.0.0.1".parse().unwrap(), Some(&list), &trusted);
        assert_eq!(ip, "198.51.100.7".parse::<std::net::IpAddr>().unwrap());
    }
}
