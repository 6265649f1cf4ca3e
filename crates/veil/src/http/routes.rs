//! Every route, with who may call it. The router is built from this table only, so a route cannot
//! exist without an access rule; `docs/permissions.md` is generated from it (`veil permissions`),
//! and the authorization test walks it against the running server.

use std::fmt::Write as _;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

use crate::http::access::{Access, Gate};
use crate::http::{
    AppState, admin, admin_pages as ap, api, audit, audit_pages, inbox, pages, webhook,
};
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
pub fn table(limits: Limits) -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::{Public, Session, SignIn, Webhook};
    let r = |method: Method, path: &'static str, gate: Gate, handler: MethodRouter<AppState>| {
        (RouteSpec { method, path, gate }, handler)
    };
    vec![
        r(
            Method::GET,
            "/healthz",
            open(Public),
            get(|| async { "ok" }),
        ),
        r(
            Method::GET,
            "/static/veil.css",
            open(Public),
            get(pages::stylesheet),
        ),
        r(
            Method::GET,
            "/static/inbox.js",
            open(Public),
            get(pages::script),
        ),
        r(
            Method::GET,
            "/webhooks/whatsapp",
            open(Webhook),
            get(webhook::verify),
        ),
        r(
            Method::POST,
            "/webhooks/whatsapp",
            open(Webhook),
            post(webhook::receive).layer(DefaultBodyLimit::max(limits.webhook)),
        ),
        // Signing in.
        r(Method::GET, "/login", open(Public), get(pages::login_page)),
        r(Method::POST, "/login", open(Public), post(pages::login)),
        r(
            Method::GET,
            "/setup/{token}",
            open(Public),
            get(pages::setup_page),
        ),
        r(
            Method::POST,
            "/setup/{token}",
            open(Public),
            post(pages::setup),
        ),
        r(
            Method::GET,
            "/login/2fa",
            open(SignIn),
            get(pages::second_factor_page),
        ),
        r(
            Method::POST,
            "/login/2fa",
            open(SignIn),
            post(pages::second_factor),
        ),
        r(
            Method::GET,
            "/enroll",
            open(SignIn),
            get(pages::enroll_page),
        ),
        r(Method::POST, "/enroll", open(SignIn), post(pages::enroll)),
        r(Method::POST, "/logout", open(SignIn), post(pages::logout)),
        // One's own account.
        r(Method::GET, "/", open(Session), get(pages::home)),
        r(Method::GET, "/account", open(Session), get(pages::account)),
        r(
            Method::POST,
            "/account/reauth",
            open(Session),
            post(pages::reauth),
        ),
        r(
            Method::POST,
            "/account/password",
            open(Session),
            post(pages::change_password),
        ),
        r(
            Method::POST,
            "/account/recovery-codes",
            Gate {
                access: Session,
                reauth: true,
            },
            post(pages::new_recovery_codes),
        ),
        r(
            Method::POST,
            "/account/sessions/others/revoke",
            open(Session),
            post(pages::logout_others),
        ),
        r(
            Method::POST,
            "/account/sessions/{id}/revoke",
            open(Session),
            post(pages::end_session),
        ),
        r(
            Method::POST,
            "/account/language",
            open(Session),
            post(pages::set_language),
        ),
        // The web inbox.
        r(Method::GET, "/inbox", page(READ), get(inbox::inbox)),
        r(Method::GET, "/inbox/events", page(READ), get(inbox::events)),
        r(
            Method::GET,
            "/inbox/c/{id}",
            page(READ),
            get(inbox::conversation),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/reply",
            page(&[P::ConversationReply]),
            post(inbox::reply),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/template",
            page(&[P::ConversationReply]),
            post(inbox::template),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/attach",
            page(&[P::ConversationReply]),
            post(inbox::attach).layer(DefaultBodyLimit::max(limits.media)),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/cancel/{message_id}",
            page(&[P::ConversationReply]),
            post(inbox::cancel_scheduled),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/note",
            page(&[P::ConversationReply]),
            post(inbox::note),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/status",
            page(&[P::ConversationReply]),
            post(inbox::set_status),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/assign",
            page(&[P::ConversationAssign]),
            post(inbox::assign),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/labels",
            page(&[P::ConversationReply]),
            post(inbox::set_labels),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/labels/new",
            page(&[P::ConversationReply]),
            post(inbox::new_label),
        ),
        r(
            Method::POST,
            "/inbox/c/{id}/reveal",
            page(&[P::ContactRevealPhone]),
            post(inbox::reveal),
        ),
        r(
            Method::GET,
            "/inbox/media/{id}",
            page(READ),
            get(inbox::media),
        ),
        // The admin pages.
        r(Method::GET, "/admin", page(ap::ANY_SECTION), get(ap::index)),
        r(
            Method::GET,
            "/admin/users",
            page(&[P::UserRead]),
            get(ap::users),
        ),
        r(
            Method::POST,
            "/admin/users",
            sensitive_page(&[P::UserManage]),
            post(ap::invite),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/role",
            sensitive_page(&[P::UserManage]),
            post(ap::set_role),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/disable",
            page(&[P::UserManage]),
            post(ap::disable_user),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/enable",
            sensitive_page(&[P::UserManage]),
            post(ap::enable_user),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/reset-2fa",
            sensitive_page(&[P::UserManage]),
            post(ap::reset_second_factor),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/logout",
            page(&[P::UserManage]),
            post(ap::logout_user),
        ),
        r(
            Method::GET,
            "/admin/teams",
            page(&[P::UserRead]),
            get(ap::teams),
        ),
        r(
            Method::POST,
            "/admin/teams",
            page(&[P::UserManage]),
            post(ap::create_team),
        ),
        r(
            Method::POST,
            "/admin/teams/{id}/members",
            page(&[P::UserManage]),
            post(ap::add_member),
        ),
        r(
            Method::POST,
            "/admin/teams/{id}/members/{user_id}/remove",
            page(&[P::UserManage]),
            post(ap::remove_member),
        ),
        r(
            Method::POST,
            "/admin/teams/{id}/routing",
            page(&[P::UserManage]),
            post(ap::team_routing),
        ),
        r(
            Method::GET,
            "/admin/channels",
            page(&[P::PolicyManage]),
            get(ap::channels),
        ),
        r(
            Method::POST,
            "/admin/channels/{id}",
            page(&[P::PolicyManage]),
            post(ap::update_channel),
        ),
        r(
            Method::GET,
            "/admin/inbox",
            page(&[P::InboxManage]),
            get(ap::inbox_settings),
        ),
        r(
            Method::POST,
            "/admin/canned",
            page(&[P::InboxManage]),
            post(ap::add_canned),
        ),
        r(
            Method::POST,
            "/admin/canned/{id}/delete",
            page(&[P::InboxManage]),
            post(ap::delete_canned),
        ),
        r(
            Method::POST,
            "/admin/labels",
            page(&[P::InboxManage]),
            post(ap::add_label),
        ),
        r(
            Method::POST,
            "/admin/labels/{id}/delete",
            page(&[P::InboxManage]),
            post(ap::delete_label),
        ),
        r(
            Method::GET,
            "/admin/policies",
            page(&[P::PolicyManage]),
            get(ap::policies),
        ),
        r(
            Method::POST,
            "/admin/policies",
            sensitive_page(&[P::PolicyManage]),
            post(ap::save_policies),
        ),
        r(
            Method::GET,
            "/admin/guard",
            page(&[P::PolicyManage]),
            get(ap::guard),
        ),
        r(
            Method::POST,
            "/admin/guard",
            sensitive_page(&[P::PolicyManage]),
            post(ap::save_guard),
        ),
        r(
            Method::GET,
            "/admin/alerts",
            page(&[ap::ALERTS_PERMISSION]),
            get(ap::alerts),
        ),
        r(
            Method::POST,
            "/admin/alerts/{id}/acknowledge",
            page(&[ap::ALERTS_PERMISSION]),
            post(ap::acknowledge_alert),
        ),
        // The auditor's page; exports go through the same audited handler as the API's.
        r(
            Method::GET,
            "/audit",
            page(&[P::AuditRead]),
            get(audit_pages::page),
        ),
        r(
            Method::GET,
            "/audit/export",
            page(&[P::AuditRead]),
            get(audit::export),
        ),
        r(
            Method::POST,
            "/audit/verify",
            page(&[P::AuditRead]),
            post(audit_pages::verify),
        ),
        // Conversations.
        r(Method::GET, "/api/v1/me", api(&P::ALL), get(admin::me)),
        r(
            Method::GET,
            "/api/v1/conversations",
            api(READ),
            get(api::list_conversations),
        ),
        r(
            Method::GET,
            "/api/v1/conversations/{id}/messages",
            api(READ),
            get(api::list_messages),
        ),
        r(
            Method::POST,
            "/api/v1/conversations/{id}/messages",
            api(&[P::ConversationReply]),
            post(api::send_message).layer(DefaultBodyLimit::max(limits.media)),
        ),
        r(
            Method::POST,
            "/api/v1/conversations/{id}/messages/{message_id}/cancel",
            api(&[P::ConversationReply]),
            post(api::cancel_scheduled),
        ),
        r(
            Method::POST,
            "/api/v1/conversations/{id}/read",
            api(&[P::ConversationReply]),
            post(api::mark_read),
        ),
        r(
            Method::POST,
            "/api/v1/conversations/{id}/assign",
            api(&[P::ConversationAssign]),
            post(admin::assign),
        ),
        r(
            Method::POST,
            "/api/v1/conversations/{id}/reveal-number",
            api(&[P::ContactRevealPhone]),
            post(admin::reveal_number),
        ),
        r(
            Method::GET,
            "/api/v1/messages/{id}/media",
            api(READ),
            get(api::download_media),
        ),
        // People.
        r(
            Method::GET,
            "/api/v1/users",
            api(&[P::UserRead]),
            get(admin::list_users),
        ),
        r(
            Method::POST,
            "/api/v1/users",
            sensitive(&[P::UserManage]),
            post(admin::create_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/role",
            sensitive(&[P::UserManage]),
            post(admin::set_role),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/disable",
            api(&[P::UserManage]),
            post(admin::disable_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/enable",
            sensitive(&[P::UserManage]),
            post(admin::enable_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/reset-2fa",
            sensitive(&[P::UserManage]),
            post(admin::reset_second_factor),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/logout",
            api(&[P::UserManage]),
            post(admin::logout_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/unlock",
            api(&[P::UserManage]),
            post(admin::unlock_user),
        ),
        r(
            Method::GET,
            "/api/v1/users/{id}/sessions",
            api(&[P::UserManage]),
            get(admin::user_sessions),
        ),
        r(
            Method::GET,
            "/api/v1/teams",
            api(&[P::UserRead]),
            get(admin::list_teams),
        ),
        r(
            Method::POST,
            "/api/v1/teams",
            api(&[P::UserManage]),
            post(admin::create_team),
        ),
        r(
            Method::POST,
            "/api/v1/teams/{id}/members",
            api(&[P::UserManage]),
            post(admin::add_member),
        ),
        // Tokens and the access record.
        r(
            Method::GET,
            "/api/v1/tokens",
            api(&[P::TokenManage]),
            get(admin::list_tokens),
        ),
        r(
            Method::POST,
            "/api/v1/tokens",
            sensitive(&[P::TokenManage]),
            post(admin::create_token),
        ),
        r(
            Method::DELETE,
            "/api/v1/tokens/{id}",
            api(&[P::TokenManage]),
            delete(admin::revoke_token),
        ),
        r(
            Method::GET,
            "/api/v1/access-log",
            api(&[P::AuditRead]),
            get(admin::access_log),
        ),
        r(
            Method::GET,
            "/api/v1/audit",
            api(&[P::AuditRead]),
            get(audit::search),
        ),
        r(
            Method::GET,
            "/api/v1/audit/export",
            api(&[P::AuditRead]),
            get(audit::export),
        ),
        r(
            Method::GET,
            "/api/v1/audit/checkpoint",
            api(&[P::AuditRead]),
            get(audit::checkpoint),
        ),
        r(
            Method::GET,
            "/api/v1/alerts",
            api(&[P::AuditRead, P::PolicyManage]),
            get(audit::alerts),
        ),
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
