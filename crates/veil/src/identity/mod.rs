//! Identity and access: who is asking, and what they may do.
//!
//! Accounts with Argon2id passwords and a mandatory TOTP second factor, server-side sessions,
//! throttled guessing, roles with named permissions, per-role network allowlists and scoped API
//! tokens. Domain only: no HTTP, no SQL. The HTTP layer turns a cookie or a bearer token into a
//! `Principal` through this module and asks the `Principal` before every action.

pub mod directory;
pub mod network;
pub mod password;
pub mod permissions;
pub mod policy;
mod service;
pub mod teams;
pub mod throttle;
pub mod totp;

use std::net::IpAddr;

/// Rows of the store this part of the domain hands to its callers.
pub use crate::store::{ApiTokenRow, SessionRow, UserChange, UserRow};
pub use permissions::{Permission, Permissions, Role};
pub use service::*;

use crate::store::ConversationScope;

/// A session secret, setup link secret or API token: 256 random bits, shown once, stored hashed.
pub use veil_crypto::ApiTokenSecret as OpaqueSecret;

/// Session stages.
pub const STAGE_PASSWORD: &str = "password";
pub const STAGE_ENROLL: &str = "enroll";
pub const STAGE_FULL: &str = "full";

pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DISABLED: &str = "disabled";

/// The request's origin as the domain sees it.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    /// Shortened, for the session list only.
    pub user_agent: String,
}

impl Client {
    pub fn new(ip: IpAddr, user_agent: Option<&str>) -> Self {
        Self {
            ip,
            user_agent: user_agent.unwrap_or("").chars().take(200).collect(),
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Actor {
    User {
        user: Box<UserRow>,
        role: Role,
        session: Box<SessionRow>,
    },
    Token(Box<ApiTokenRow>),
}

/// An authenticated caller and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub permissions: Permissions,
    pub client: Client,
}

impl crate::audit::ClientAddress for Client {
    fn address(&self) -> IpAddr {
        self.ip
    }
}

impl crate::audit::ClientAddress for Principal {
    fn address(&self) -> IpAddr {
        self.client.ip
    }
}

impl crate::audit::Actor for Principal {
    fn label(&self) -> String {
        Principal::label(self)
    }
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// Which conversations this caller may read, if any.
    pub fn conversation_scope(&self) -> Option<ConversationScope> {
        if self.can(Permission::ConversationReadAll) {
            return Some(ConversationScope::All);
        }
        match &self.actor {
            Actor::User { user, .. } if self.can(Permission::ConversationReadAssigned) => {
                Some(ConversationScope::AssignedTo(user.id.clone()))
            }
            _ => None,
        }
    }

    /// `user:<id>` or `token:<id>`, for the access record.
    pub fn label(&self) -> String {
        match &self.actor {
            Actor::User { user, .. } => format!("user:{}", user.id),
            Actor::Token(token) => format!("token:{}", token.id),
        }
    }

    pub fn user(&self) -> Option<&UserRow> {
        match &self.actor {
            Actor::User { user, .. } => Some(user),
            Actor::Token(_) => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::User { role, .. } => Some(*role),
            Actor::Token(_) => None,
        }
    }

    pub fn session(&self) -> Option<&SessionRow> {
        match &self.actor {
            Actor::User { session, .. } => Some(session),
            Actor::Token(_) => None,
        }
    }

    /// Whether password and code were checked within `window_ms` (tokens: never interactive, so
    /// their scopes, chosen at a re-authenticated creation, decide alone).
    pub fn recently_authenticated(&self, now: i64, window_ms: i64) -> bool {
        match &self.actor {
            Actor::User { session, .. } => now - session.authenticated_at <= window_ms,
            Actor::Token(_) => true,
        }
    }
}
