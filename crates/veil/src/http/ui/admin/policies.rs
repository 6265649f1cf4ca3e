//! Administration → Policies (timeouts, network allowlists per role) and saving the guard's
//! policy (the guard section's page is `guard.rs`).

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::response::Response;

use crate::error::AppError;
use crate::http::AppState;
use crate::http::access::Page;
use crate::http::ui::layout::Nav;
use crate::i18n::{Arg, Lang};
use crate::identity::Principal;
use crate::identity::policy::{ALLOWLIST_SUBJECTS, AccessPolicy};

use super::{Head, Section, role_text};

struct Allowlist {
    subject: &'static str,
    label: String,
    networks: String,
}

#[derive(Template)]
#[template(path = "admin_policies.html")]
pub(super) struct PoliciesPage {
    l: Lang,
    title: String,
    nav: Nav,
    head: Head,
    policy: AccessPolicy,
    allowlists: Vec<Allowlist>,
    allowlist_help: String,
}

pub(super) fn policies_page(
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

/// `POST /admin/guard`: the guard's action per detector and direction (recorded), or the
/// defaults with `reset`.
pub async fn save_guard(page: Page, body: Bytes) -> Result<Response, AppError> {
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let outcome: Result<(), AppError> = async {
        let policy = if fields.contains_key("reset") {
            crate::guard::policy::Policy::default()
        } else {
            super::guard::policy_from(&fields).map_err(AppError::BadRequest)?
        };
        page.state.set_guard_policy(&page.principal, policy).await?;
        Ok(())
    }
    .await;
    page.finish(Section::Guard, outcome).await
}

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
