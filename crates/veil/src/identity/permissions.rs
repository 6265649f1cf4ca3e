//! Roles and the named capabilities they grant. This table is the source of truth: the router
//! asks it, `docs/permissions.md` is generated from it, and the authorization test checks the
//! running server against that document.

use std::fmt;
use std::fmt::Write as _;

/// A named capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read conversations assigned to oneself or one's team.
    ConversationReadAssigned,
    /// Read every conversation.
    ConversationReadAll,
    /// Send messages and mark read, in conversations one can read.
    ConversationReply,
    /// Assign conversations to people and teams.
    ConversationAssign,
    /// See a contact's full phone number / `wa_id` (each reveal is recorded).
    ContactRevealPhone,
    /// See the list of users and teams.
    UserRead,
    /// Create, disable and change users, reset their 2FA, end their sessions, manage teams.
    UserManage,
    /// Create and revoke API tokens.
    TokenManage,
    /// Read the audit log.
    AuditRead,
    /// Change retention, guard and access policies.
    PolicyManage,
    /// Export customer data.
    DataExport,
    /// Rotate and retire encryption keys.
    KeysManage,
    /// Manage the inbox's canned replies and labels.
    InboxManage,
}

impl Permission {
    pub const ALL: [Self; 13] = [
        Self::ConversationReadAssigned,
        Self::ConversationReadAll,
        Self::ConversationReply,
        Self::ConversationAssign,
        Self::ContactRevealPhone,
        Self::UserRead,
        Self::UserManage,
        Self::TokenManage,
        Self::AuditRead,
        Self::PolicyManage,
        Self::DataExport,
        Self::KeysManage,
        Self::InboxManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConversationReadAssigned => "conversation.read.assigned",
            Self::ConversationReadAll => "conversation.read.all",
            Self::ConversationReply => "conversation.reply",
            Self::ConversationAssign => "conversation.assign",
            Self::ContactRevealPhone => "contact.reveal_phone",
            Self::UserRead => "user.read",
            Self::UserManage => "user.manage",
            Self::TokenManage => "token.manage",
            Self::AuditRead => "audit.read",
            Self::PolicyManage => "policy.manage",
            Self::DataExport => "data.export",
            Self::KeysManage => "keys.manage",
            Self::InboxManage => "inbox.manage",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u32);

impl Permissions {
    pub fn of(list: &[Permission]) -> Self {
        Self(list.iter().fold(0, |acc, p| acc | p.bit()))
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Space-separated names, as stored with a token.
    pub fn to_names(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Parses space- or comma-separated names; the error is the first unknown name.
    pub fn parse_names(text: &str) -> Result<Self, String> {
        let mut list = Vec::new();
        for name in text.split([' ', ',']).filter(|n| !n.is_empty()) {
            list.push(Permission::parse(name).ok_or_else(|| name.to_owned())?);
        }
        Ok(Self::of(&list))
    }
}

/// A user's role. Ordered by reach: a role may only manage users of its own rank or below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Admin,
    Supervisor,
    Agent,
    Auditor,
}

impl Role {
    pub const ALL: [Self; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Supervisor,
        Self::Agent,
        Self::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
            Self::Agent => "agent",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// What the role may do.
    pub fn permissions(self) -> Permissions {
        use Permission as P;
        match self {
            Self::Owner => Permissions::of(&P::ALL),
            Self::Admin => Permissions::of(&[
                P::ConversationReadAll,
                P::ConversationReply,
                P::ConversationAssign,
                P::ContactRevealPhone,
                P::UserRead,
                P::UserManage,
                P::TokenManage,
                P::AuditRead,
                P::PolicyManage,
                P::InboxManage,
            ]),
            Self::Supervisor => Permissions::of(&[
                P::ConversationReadAll,
                P::ConversationReply,
                P::ConversationAssign,
                P::ContactRevealPhone,
                P::UserRead,
                P::InboxManage,
            ]),
            Self::Agent => Permissions::of(&[P::ConversationReadAssigned, P::ConversationReply]),
            Self::Auditor => Permissions::of(&[P::AuditRead, P::UserRead]),
        }
    }

    /// Rank for "may manage": lower is more powerful. Supervisors, agents and auditors share a
    /// rank because none of them manages users.
    fn rank(self) -> u8 {
        match self {
            Self::Owner => 0,
            Self::Admin => 1,
            Self::Supervisor | Self::Agent | Self::Auditor => 2,
        }
    }

    /// Whether a user with this role may create, change or end users holding `other` (or grant it).
    pub fn may_manage(self, other: Self) -> bool {
        self.permissions().contains(Permission::UserManage) && self.rank() <= other.rank()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role × permission table as Markdown rows (for `docs/permissions.md`).
pub fn role_matrix_markdown() -> String {
    let mut out = String::from("| permission |");
    for role in Role::ALL {
        let _ = write!(out, " {role} |");
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str(":-:|");
    }
    out.push('\n');
    for p in Permission::ALL {
        let _ = write!(out, "| `{p}` |");
        for role in Role::ALL {
            out.push_str(if role.permissions().contains(p) {
                " ✓ |"
            } else {
                " · |"
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn configuration_knows_every_role_by_name() {
        let names: Vec<&str> = super::Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, crate::config::ROLE_NAMES);
    }

    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        let set = Permissions::parse_names("conversation.reply, audit.read").unwrap();
        assert_eq!(Permissions::parse_names(&set.to_names()).unwrap(), set);
        assert_eq!(Permissions::parse_names("root").unwrap_err(), "root");
    }

    #[test]
    fn least_privilege_holds() {
        assert!(
            !Role::Agent
                .permissions()
                .contains(Permission::ConversationReadAll)
        );
        assert!(
            !Role::Agent
                .permissions()
                .contains(Permission::ContactRevealPhone)
        );
        assert!(
            !Role::Auditor
                .permissions()
                .contains(Permission::ConversationReadAll)
        );
        assert!(!Role::Admin.permissions().contains(Permission::DataExport));
        assert!(Role::Owner.may_manage(Role::Admin));
        assert!(!Role::Admin.may_manage(Role::Owner));
        assert!(Role::Admin.may_manage(Role::Agent));
        assert!(!Role::Supervisor.may_manage(Role::Agent));
        for r in Role::ALL {
            assert!(r.permissions().is_subset_of(Role::Owner.permissions()));
        }
    }
}
