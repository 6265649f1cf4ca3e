//! Every route, with who may call it. The router is built from this table only, so a route cannot
//! exist without an access rule; `docs/permissions.md` is generated from it (`veil permissions`),
//! and the authorization test walks it against the running server.

use std::fmt::Write as _;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

use crate::http::access::{Access, Gate};
use crate::http::{AppState, api, ui, webhook};
use crate::identity::{Permission as P, Role};

/// One route: method, path template, gate.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub gate: Gate,
}

const READ: &[P] = &[P::ConversationReadAssigned, P::ConversationReadAll];

/// Body limits the table needs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub webhook: usize,
    pub media: usize,
}

fn open(access: Access) -> Gate {
    Gate {
        access,
        reauth: false,
    }
}

fn api(permission: &'static [P]) -> Gate {
    Gate {
        access: Access::Api(permission),
        reauth: false,
    }
}

fn page(permission: &'static [P]) -> Gate {
    Gate {
        access: Access::Page(permission),
        reauth: false,
    }
}

fn sensitive_page(permission: &'static [P]) -> Gate {
    Gate {
        access: Access::Page(permission),
        reauth: true,
    }
}

fn sensitive(permission: &'static [P]) -> Gate {
    Gate {
        access: Access::Api(permission),
        reauth: true,
    }
}

/// The table.
#[allow(
    clippy::too_many_lines,
    reason = "one line per route, read top to bottom"
)]
#[rustfmt::skip]
pub fn table(limits: Limits) -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::{Public, Session, SignIn, Webhook};
    let r = |method: Method, path: &'static str, gate: Gate, handler: MethodRouter<AppState>| {
        (RouteSpec { method, path, gate }, handler)
    };
    vec![
        r(Method::GET, "/healthz", open(Public), get(|| async { "ok" })),
        r(Method::GET, "/static/veil.css", open(Public), get(ui::account::stylesheet)),
        r(Method::GET, "/static/inbox.js", open(Public), get(ui::account::script)),
        r(Method::GET, "/webhooks/whatsapp", open(Webhook), get(webhook::verify)),
        r(Method::POST, "/webhooks/whatsapp", open(Webhook), post(webhook::receive).layer(DefaultBodyLimit::max(limits.webhook))),
        // Signing in.
        r(Method::GET, "/login", open(Public), get(ui::account::login_page)),
        r(Method::POST, "/login", open(Public), post(ui::account::login)),
        r(Method::GET, "/setup/{token}", open(Public), get(ui::account::setup_page)),
        r(Method::POST, "/setup/{token}", open(Public), post(ui::account::setup)),
        r(Method::GET, "/login/2fa", open(SignIn), get(ui::account::second_factor_page)),
        r(Method::POST, "/login/2fa", open(SignIn), post(ui::account::second_factor)),
        r(Method::GET, "/enroll", open(SignIn), get(ui::account::enroll_page)),
        r(Method::POST, "/enroll", open(SignIn), post(ui::account::enroll)),
        r(Method::POST, "/logout", open(SignIn), post(ui::account::logout)),
        // One's own account.
        r(Method::GET, "/", open(Session), get(ui::account::home)),
        r(Method::GET, "/account", open(Session), get(ui::account::account)),
        r(Method::POST, "/account/reauth", open(Session), post(ui::account::reauth)),
        r(Method::POST, "/account/password", open(Session), post(ui::account::change_password)),
        r(Method::POST, "/account/recovery-codes", Gate { access: Session, reauth: true }, post(ui::account::new_recovery_codes)),
        r(Method::POST, "/account/sessions/others/revoke", open(Session), post(ui::account::logout_others)),
        r(Method::POST, "/account/sessions/{id}/revoke", open(Session), post(ui::account::end_session)),
        r(Method::POST, "/account/language", open(Session), post(ui::account::set_language)),
        // The web inbox.
        r(Method::GET, "/inbox", page(READ), get(ui::inbox::inbox)),
        r(Method::GET, "/inbox/events", page(READ), get(ui::inbox::events)),
        r(Method::GET, "/inbox/c/{id}", page(READ), get(ui::inbox::conversation)),
        r(Method::POST, "/inbox/c/{id}/reply", page(&[P::ConversationReply]), post(ui::inbox::reply)),
        r(Method::POST, "/inbox/c/{id}/template", page(&[P::ConversationReply]), post(ui::inbox::template)),
        r(Method::POST, "/inbox/c/{id}/attach", page(&[P::ConversationReply]), post(ui::inbox::attach).layer(DefaultBodyLimit::max(limits.media))),
        r(Method::POST, "/inbox/c/{id}/cancel/{message_id}", page(&[P::ConversationReply]), post(ui::inbox::cancel_scheduled)),
        r(Method::POST, "/inbox/c/{id}/note", page(&[P::ConversationReply]), post(ui::inbox::note)),
        r(Method::POST, "/inbox/c/{id}/status", page(&[P::ConversationReply]), post(ui::inbox::set_status)),
        r(Method::POST, "/inbox/c/{id}/assign", page(&[P::ConversationAssign]), post(ui::inbox::assign)),
        r(Method::POST, "/inbox/c/{id}/labels", page(&[P::ConversationReply]), post(ui::inbox::set_labels)),
        r(Method::POST, "/inbox/c/{id}/labels/new", page(&[P::ConversationReply]), post(ui::inbox::new_label)),
        r(Method::POST, "/inbox/c/{id}/reveal", page(&[P::ContactRevealPhone]), post(ui::inbox::reveal)),
        r(Method::GET, "/inbox/media/{id}", page(READ), get(ui::inbox::media)),
        // The admin pages.
        r(Method::GET, "/admin", page(ui::admin::ANY_SECTION), get(ui::admin::index)),
        r(Method::GET, "/admin/users", page(&[P::UserRead]), get(ui::admin::users)),
        r(Method::POST, "/admin/users", sensitive_page(&[P::UserManage]), post(ui::admin::invite)),
        r(Method::POST, "/admin/users/{id}/role", sensitive_page(&[P::UserManage]), post(ui::admin::set_role)),
        r(Method::POST, "/admin/users/{id}/disable", page(&[P::UserManage]), post(ui::admin::disable_user)),
        r(Method::POST, "/admin/users/{id}/enable", sensitive_page(&[P::UserManage]), post(ui::admin::enable_user)),
        r(Method::POST, "/admin/users/{id}/reset-2fa", sensitive_page(&[P::UserManage]), post(ui::admin::reset_second_factor)),
        r(Method::POST, "/admin/users/{id}/logout", page(&[P::UserManage]), post(ui::admin::logout_user)),
        r(Method::GET, "/admin/teams", page(&[P::UserRead]), get(ui::admin::teams)),
        r(Method::POST, "/admin/teams", page(&[P::UserManage]), post(ui::admin::create_team)),
        r(Method::POST, "/admin/teams/{id}/members", page(&[P::UserManage]), post(ui::admin::add_member)),
        r(Method::POST, "/admin/teams/{id}/members/{user_id}/remove", page(&[P::UserManage]), post(ui::admin::remove_member)),
        r(Method::POST, "/admin/teams/{id}/routing", page(&[P::UserManage]), post(ui::admin::team_routing)),
        r(Method::GET, "/admin/channels", page(&[P::PolicyManage]), get(ui::admin::channels)),
        r(Method::POST, "/admin/channels/{id}", page(&[P::PolicyManage]), post(ui::admin::update_channel)),
        r(Method::GET, "/admin/inbox", page(&[P::InboxManage]), get(ui::admin::inbox_settings)),
        r(Method::POST, "/admin/canned", page(&[P::InboxManage]), post(ui::admin::add_canned)),
        r(Method::POST, "/admin/canned/{id}/delete", page(&[P::InboxManage]), post(ui::admin::delete_canned)),
        r(Method::POST, "/admin/labels", page(&[P::InboxManage]), post(ui::admin::add_label)),
        r(Method::POST, "/admin/labels/{id}/delete", page(&[P::InboxManage]), post(ui::admin::delete_label)),
        r(Method::GET, "/admin/policies", page(&[P::PolicyManage]), get(ui::admin::policies)),
        r(Method::POST, "/admin/policies", sensitive_page(&[P::PolicyManage]), post(ui::admin::save_policies)),
        r(Method::GET, "/admin/guard", page(&[P::PolicyManage]), get(ui::admin::guard)),
        r(Method::POST, "/admin/guard", sensitive_page(&[P::PolicyManage]), post(ui::admin::save_guard)),
        r(Method::GET, "/admin/alerts", page(&[ui::admin::ALERTS_PERMISSION]), get(ui::admin::alerts)),
        r(Method::POST, "/admin/alerts/{id}/acknowledge", page(&[ui::admin::ALERTS_PERMISSION]), post(ui::admin::acknowledge_alert)),
        // The auditor's page; exports go through the same audited handler as the API's.
        r(Method::GET, "/audit", page(&[P::AuditRead]), get(ui::audit::page)),
        r(Method::GET, "/audit/export", page(&[P::AuditRead]), get(api::audit::export)),
        r(Method::POST, "/audit/verify", page(&[P::AuditRead]), post(ui::audit::verify)),
        // Conversations.
        r(Method::GET, "/api/v1/me", api(&P::ALL), get(api::people::me)),
        r(Method::GET, "/api/v1/conversations", api(READ), get(api::conversations::list_conversations)),
        r(Method::GET, "/api/v1/conversations/{id}/messages", api(READ), get(api::conversations::list_messages)),
        r(Method::POST, "/api/v1/conversations/{id}/messages", api(&[P::ConversationReply]), post(api::conversations::send_message).layer(DefaultBodyLimit::max(limits.media))),
        r(Method::POST, "/api/v1/conversations/{id}/messages/{message_id}/cancel", api(&[P::ConversationReply]), post(api::conversations::cancel_scheduled)),
        r(Method::POST, "/api/v1/conversations/{id}/read", api(&[P::ConversationReply]), post(api::conversations::mark_read)),
        r(Method::POST, "/api/v1/conversations/{id}/assign", api(&[P::ConversationAssign]), post(api::people::assign)),
        r(Method::POST, "/api/v1/conversations/{id}/reveal-number", api(&[P::ContactRevealPhone]), post(api::people::reveal_number)),
        r(Method::GET, "/api/v1/messages/{id}/media", api(READ), get(api::conversations::download_media)),
        // People.
        r(Method::GET, "/api/v1/users", api(&[P::UserRead]), get(api::people::list_users)),
        r(Method::POST, "/api/v1/users", sensitive(&[P::UserManage]), post(api::people::create_user)),
        r(Method::POST, "/api/v1/users/{id}/role", sensitive(&[P::UserManage]), post(api::people::set_role)),
        r(Method::POST, "/api/v1/users/{id}/disable", api(&[P::UserManage]), post(api::people::disable_user)),
        r(Method::POST, "/api/v1/users/{id}/enable", sensitive(&[P::UserManage]), post(api::people::enable_user)),
        r(Method::POST, "/api/v1/users/{id}/reset-2fa", sensitive(&[P::UserManage]), post(api::people::reset_second_factor)),
        r(Method::POST, "/api/v1/users/{id}/logout", api(&[P::UserManage]), post(api::people::logout_user)),
        r(Method::POST, "/api/v1/users/{id}/unlock", api(&[P::UserManage]), post(api::people::unlock_user)),
        r(Method::GET, "/api/v1/users/{id}/sessions", api(&[P::UserManage]), get(api::people::user_sessions)),
        r(Method::GET, "/api/v1/teams", api(&[P::UserRead]), get(api::people::list_teams)),
        r(Method::POST, "/api/v1/teams", api(&[P::UserManage]), post(api::people::create_team)),
        r(Method::POST, "/api/v1/teams/{id}/members", api(&[P::UserManage]), post(api::people::add_member)),
        // Tokens and the access record.
        r(Method::GET, "/api/v1/tokens", api(&[P::TokenManage]), get(api::people::list_tokens)),
        r(Method::POST, "/api/v1/tokens", sensitive(&[P::TokenManage]), post(api::people::create_token)),
        r(Method::DELETE, "/api/v1/tokens/{id}", api(&[P::TokenManage]), delete(api::people::revoke_token)),
        r(Method::GET, "/api/v1/access-log", api(&[P::AuditRead]), get(api::people::access_log)),
        r(Method::GET, "/api/v1/audit", api(&[P::AuditRead]), get(api::audit::search)),
        r(Method::GET, "/api/v1/audit/export", api(&[P::AuditRead]), get(api::audit::export)),
        r(Method::GET, "/api/v1/audit/checkpoint", api(&[P::AuditRead]), get(api::audit::checkpoint)),
        r(Method::GET, "/api/v1/alerts", api(&[P::AuditRead, P::PolicyManage]), get(api::audit::alerts)),
    ]
}

/// The specs alone.
pub fn specs() -> Vec<RouteSpec> {
    table(Limits {
        webhook: 0,
        media: 0,
    })
    .into_iter()
    .map(|(spec, _)| spec)
    .collect()
}

/// Who is asking, for the documented matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Anonymous,
    Role(Role),
    /// An API token holding exactly this one scope.
    Token(P),
}

/// Whether `subject` gets past the gate of `gate` (`None`: the webhook, which answers to a
/// signature, not to a caller).
pub fn allows(gate: Gate, subject: Subject) -> Option<bool> {
    Some(match gate.access {
        Access::Webhook => return None,
        Access::Public => true,
        Access::SignIn | Access::Session => matches!(subject, Subject::Role(_)),
        Access::Page(need) => match subject {
            Subject::Role(role) => need.iter().any(|p| role.permissions().contains(*p)),
            Subject::Token(_) | Subject::Anonymous => false,
        },
        Access::Api(need) => match subject {
            Subject::Role(role) => need.iter().any(|p| role.permissions().contains(*p)),
            Subject::Token(scope) => need.contains(&scope),
            Subject::Anonymous => false,
        },
    })
}

fn access_text(gate: Gate) -> String {
    let base = match gate.access {
        Access::Public => "public".to_owned(),
        Access::Webhook => "Meta signature".to_owned(),
        Access::SignIn => "signing in".to_owned(),
        Access::Session => "signed in".to_owned(),
        Access::Page(need) => format!(
            "signed in with {}",
            need.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Access::Api(need) if need.len() == P::ALL.len() => "any permission".to_owned(),
        Access::Api(need) => need
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(" or "),
    };
    if gate.reauth {
        format!("{base} + re-auth")
    } else {
        base
    }
}

/// The subjects as columns of the route matrix.
pub fn subjects() -> Vec<(String, Subject)> {
    let mut out = vec![("anonymous".to_owned(), Subject::Anonymous)];
    out.extend(
        Role::ALL
            .into_iter()
            .map(|r| (r.as_str().to_owned(), Subject::Role(r))),
    );
    out
}

/// `docs/permissions.md`.
pub fn permissions_markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         Generated by `veil permissions` from the code (`identity/permissions.rs`, `http/routes.rs`); \
         a test fails when this file and the code disagree, and the authorization test checks the running \
         server against the route matrix below for every role, anonymous callers and a token of each scope.\n\n\
         ## Roles\n\n",
    );
    out.push_str(&crate::identity::permissions::role_matrix_markdown());
    out.push_str(
        "\n## Routes\n\n\
         `allow`: the gate lets the caller through; `deny`: 401, 403 or a redirect to the sign-in page. \
         Beyond the gate, conversation routes only reach conversations the caller may read: an agent's own \
         and their team's (others answer 404). A role may manage only users of its own rank or below \
         (owner > admin > the rest); a token with `user.manage` may create supervisors, agents and auditors \
         but changes no existing user. `re-auth`: password and code within the last `auth.reauth_minutes`. \
         An API token passes where its scopes include one of the listed permissions; tokens never open \
         browser pages.\n\n| method | path | needs |",
    );
    let subjects = subjects();
    for (name, _) in &subjects {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|---|---|");
    for _ in &subjects {
        out.push_str(":-:|");
    }
    out.push('\n');
    for spec in specs() {
        let _ = write!(
            out,
            "| {} | `{}` | {} |",
            spec.method,
            spec.path,
            access_text(spec.gate)
        );
        for (_, subject) in &subjects {
            out.push_str(match allows(spec.gate, *subject) {
                None => " signature |",
                Some(true) => " allow |",
                Some(false) => " deny |",
            });
        }
        out.push('\n');
    }
    out
}
