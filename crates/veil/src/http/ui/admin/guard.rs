//! Administration → Guard: the action per detector and direction.

use std::collections::HashMap;

use askama::Template;

use super::sections::Head;
use crate::guard::Kind;
use crate::guard::policy::{Action, Policy, Rule, default_rule};
use crate::http::AppState;
use crate::http::ui::layout::Nav;
use crate::i18n::Lang;

/// One select's option.
pub struct Opt {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

/// One detector's row.
pub struct Row {
    pub kind: &'static str,
    pub label: String,
    pub inbound: Vec<Opt>,
    pub outbound: Vec<Opt>,
    pub changed: bool,
}

#[derive(Template)]
#[template(path = "admin_guard.html")]
pub struct GuardPage {
    pub l: Lang,
    pub title: String,
    pub nav: Nav,
    pub head: Head,
    pub rows: Vec<Row>,
}

fn options(l: Lang, current: Action, value_kind: bool) -> Vec<Opt> {
    Action::ALL
        .into_iter()
        .filter(|a| value_kind || *a != Action::Mask)
        .map(|a| Opt {
            value: a.as_str(),
            label: l.t(&format!("guard-action-{}", a.as_str())),
            selected: a == current,
        })
        .collect()
}

pub fn page(state: &AppState, l: Lang, title: String, nav: Nav, head: Head) -> GuardPage {
    let policy = state.guard.policy();
    let rows = Kind::ALL
        .into_iter()
        .map(|kind| {
            let rule = policy.rule(kind);
            Row {
                kind: kind.as_str(),
                label: l.t(&format!("guard-kind-{}", kind.as_str())),
                inbound: options(l, rule.inbound, kind.is_value()),
                outbound: options(l, rule.outbound, kind.is_value()),
                changed: rule != default_rule(kind),
            }
        })
        .collect();
    GuardPage {
        l,
        title,
        nav,
        head,
        rows,
    }
}

/// The policy a submitted form describes (`in_<kind>`, `out_<kind>`); missing fields keep the
/// default, unknown actions are refused.
pub fn policy_from<S: std::hash::BuildHasher>(
    fields: &HashMap<String, String, S>,
) -> Result<Policy, String> {
    let mut policy = Policy::default();
    for kind in Kind::ALL {
        let default = default_rule(kind);
        let read = |prefix: &str, fallback: Action| -> Result<Action, String> {
            match fields.get(&format!("{prefix}_{}", kind.as_str())) {
                None => Ok(fallback),
                Some(v) => Action::parse(v)
                    .filter(|a| kind.is_value() || *a != Action::Mask)
                    .ok_or_else(|| format!("{v} is not an action for {}", kind.as_str())),
            }
        };
        let rule = Rule {
            inbound: read("in", default.inbound)?,
            outbound: read("out", default.outbound)?,
        };
        policy.set(kind, rule);
    }
    Ok(policy)
}
