//! The admin sections (path, title, who opens them), and the header every admin page shows: the
//! tabs the caller may open, an error or a one-time setup link, and whether re-authentication is
//! due. The top bar asks here whether to show the admin link and alerts.

use crate::http::AppState;
use crate::i18n::Lang;
use crate::identity::{Permission, Principal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
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
    pub(super) const ALL: [Self; 7] = [
        Self::Users,
        Self::Teams,
        Self::Channels,
        Self::Inbox,
        Self::Policies,
        Self::Guard,
        Self::Alerts,
    ];

    /// Path, title key, and the permissions that open it (as in `routes.rs`).
    pub(super) fn spec(self) -> (&'static str, &'static str, &'static [Permission]) {
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

    pub(super) fn path(self) -> &'static str {
        self.spec().0
    }

    pub(super) fn open_to(self, principal: &Principal) -> bool {
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

/// What a page shows besides its content.
#[derive(Default)]
pub(super) struct Extra {
    pub(super) error: Option<String>,
    pub(super) setup_link: Option<String>,
}

pub(super) fn head(
    state: &AppState,
    principal: &Principal,
    l: Lang,
    section: Section,
    extra: Extra,
) -> Head {
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
