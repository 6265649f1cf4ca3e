//! `Identity`: logins, second factor, sessions, users and tokens, over the `Store`.

mod sessions;
mod sign_in;
mod tokens;
mod users;

use std::sync::Arc;

use zeroize::Zeroizing;

use super::password::{HashError, PasswordHashing, PasswordRejected};
use super::policy::AccessPolicy;
use super::throttle::{Counter, Policy, Verdict};
use super::{Client, OpaqueSecret, Principal, network};
use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::{KeyError, Keys};
use crate::store::{SessionRow, Store, StoreError, UserRow};

/// Why an identity operation did not happen. Login failures are deliberately vague.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("invalid code")]
    InvalidCode,
    #[error("too many attempts; try again in {0} seconds")]
    Throttled(i64),
    #[error("too many logins at once; try again shortly")]
    Busy,
    #[error("not signed in")]
    NoSession,
    #[error("the second factor is not done yet")]
    SecondFactorPending,
    #[error("not allowed from this network")]
    NetworkDenied,
    #[error("forbidden")]
    Forbidden,
    #[error("confirm your password and code first")]
    ReauthRequired,
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Password(#[from] PasswordRejected),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The audit entry could not be written, so the action did not happen.
    #[error("the audit log is unavailable")]
    Audit,
}

impl From<AuditError> for AuthError {
    fn from(_: AuditError) -> Self {
        Self::Audit
    }
}

impl From<HashError> for AuthError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            HashError::Failed => Self::Internal("password hashing"),
        }
    }
}

pub type AuthResult<T> = Result<T, AuthError>;

/// A session just created: the secret goes into the cookie once, the row is what is stored.
#[derive(Debug)]
pub struct SessionToken {
    pub secret: OpaqueSecret,
    pub row: SessionRow,
}

/// The synchronizer token for a session: derived from the session secret (so nothing more is
/// stored), under a label different from the stored hash.
pub fn csrf_token(session_secret: &str) -> String {
    hex::encode(veil_crypto::sha256(
        format!("veil-csrf-v1:{session_secret}").as_bytes(),
    ))
}

/// What enrollment shows.
#[derive(Debug)]
pub struct Enrollment {
    pub secret_base32: Zeroizing<String>,
    pub uri: Zeroizing<String>,
    pub qr_svg: String,
}

/// The outcome of a second-factor check.
#[derive(Debug)]
pub struct SecondFactorOk {
    pub session: SessionToken,
    /// Set when a recovery code was used: how many remain.
    pub recovery_codes_left: Option<i64>,
}

/// A new user and the link that lets them choose a password.
#[derive(Debug)]
pub struct NewUser {
    pub user: UserRow,
    pub setup_secret: OpaqueSecret,
}

/// Login, sessions, users, tokens.
#[derive(Debug, Clone)]
pub struct Identity {
    store: Arc<dyn Store>,
    keys: Keys,
    clock: Arc<dyn Clock>,
    hashing: PasswordHashing,
    config: Arc<Config>,
    /// The access policy in force: the stored one, else the configuration's (see `policy.rs`).
    policy: Arc<std::sync::RwLock<Arc<AccessPolicy>>>,
    audit: AuditLog,
}

const MINUTE: i64 = 60_000;
/// How long a device cookie vouches for a browser.
pub const DEVICE_DAYS: i64 = 90;
/// Sign-in refused because of too many attempts.
const LOGIN_LOCKED: &str = "login.locked";
/// A half-finished login (password done, code not yet) lives this long.
const PENDING_LIFETIME_MS: i64 = 10 * MINUTE;
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY_MS: i64 = 30_000;

pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Identity {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Keys,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        audit: AuditLog,
    ) -> AuthResult<Self> {
        Ok(Self {
            audit,
            hashing: PasswordHashing::new(&config.auth)?,
            policy: Arc::new(std::sync::RwLock::new(Arc::new(AccessPolicy::from_config(
                &config,
            )))),
            store,
            keys,
            clock,
            config,
        })
    }

    /// The access policy in force.
    pub fn policy(&self) -> Arc<AccessPolicy> {
        self.policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the stored policy (at start, and periodically so that every node follows a change).
    /// A stored policy that no longer parses is ignored with a warning: the file's values hold.
    pub async fn load_policy(&self) -> AuthResult<()> {
        let stored = self.store.setting(super::policy::SETTING).await?;
        let policy = match stored.map(|text| serde_json::from_str::<AccessPolicy>(&text)) {
            Some(Ok(policy)) if policy.validate().is_ok() => policy,
            Some(_) => {
                tracing::warn!("stored access policy is invalid; using the configuration's");
                AccessPolicy::from_config(&self.config)
            }
            None => AccessPolicy::from_config(&self.config),
        };
        self.install_policy(policy);
        Ok(())
    }

    fn install_policy(&self, policy: AccessPolicy) {
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(policy);
    }

    /// Saves a new policy (the gate asks for `policy.manage` and a recent re-authentication).
    /// Refused when it would shut out the administrator saving it.
    pub async fn set_policy(&self, by: &Principal, policy: AccessPolicy) -> AuthResult<()> {
        policy.validate().map_err(AuthError::Invalid)?;
        if let Some(role) = by.role()
            && !network::allowed(&policy.ip_allowlist, role.as_str(), by.client.ip)
        {
            return Err(AuthError::Invalid(
                "this allowlist would lock you out: your address is not in it".into(),
            ));
        }
        let text = serde_json::to_string(&policy).map_err(|_| AuthError::Internal("policy"))?;
        self.record(by, "policy.update", "access_policy").await?;
        self.store
            .put_setting(super::policy::SETTING, &text, self.now())
            .await?;
        self.install_policy(policy);
        Ok(())
    }

    /// For identity's own modules; everyone else goes through `Identity`'s methods.
    pub(super) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn account_key(&self, email: &str) -> String {
        format!(
            "acct:{}",
            hex::encode(self.keys.blind("login-email", email))
        )
    }

    /// Reserves one attempt on every key, atomically per key, before the attempt is checked:
    /// the attempt counts as a failure from here on (a success clears or refunds it), so a burst
    /// of concurrent guesses cannot all pass the check before the first failure is written. Of
    /// attempts that read the same counter, one wins the compare-and-set; the others read again
    /// and meet the wait. Refused attempts change no counter, so they do not lengthen the wait.
    /// Returns the wait in seconds when refused.
    async fn reserve(&self, checks: &[(&str, Policy)]) -> AuthResult<()> {
        // Rounds of compare-and-set lost to other attempts before this one gives up (refused).
        const ROUNDS: usize = 64;
        let keys: Vec<String> = checks.iter().map(|(k, _)| (*k).to_owned()).collect();
        for _ in 0..ROUNDS {
            let counters = self.store.throttle_counters(&keys).await?;
            let now = self.now();
            let now_s = now / 1000;
            let mut wait = 0;
            let mut seen = Vec::with_capacity(checks.len());
            for (key, policy) in checks {
                let row = counters
                    .iter()
                    .find(|(k, _, _)| k == key)
                    .map(|(_, failures, last)| (*failures, *last));
                let counter = row.map_or(Counter::default(), |(failures, last)| Counter {
                    failures,
                    last_failure_at: last / 1000,
                });
                match policy.verdict(counter, now_s) {
                    Verdict::Allowed => {}
                    Verdict::Wait(secs) => wait = wait.max(secs),
                    // Indistinguishable from a long wait, so a stopped account reveals nothing.
                    Verdict::Stopped => wait = wait.max(policy.max_wait_secs),
                }
                // A forgotten counter starts again: reserve as if it were new.
                let stale = policy.is_stale(counter, now_s);
                seen.push((*key, row, stale));
            }
            if wait > 0 {
                return Err(AuthError::Throttled(wait));
            }
            let mut won = Vec::with_capacity(seen.len());
            let mut lost = false;
            for (key, row, stale) in seen {
                if stale {
                    self.store.throttle_clear(&[key.to_owned()]).await?;
                }
                let seen_row = if stale { None } else { row };
                if self.store.throttle_reserve(key, seen_row, now).await? {
                    won.push(key);
                } else {
                    lost = true;
                    break;
                }
            }
            if !lost {
                return Ok(());
            }
            for key in won {
                self.store.throttle_refund(key).await?;
            }
        }
        Err(AuthError::Throttled(1))
    }

    /// Records a throttled refusal of `key`: the first refusal since the key last allowed an
    /// attempt is an audit entry, and then every tenfold count (10, 100, …) one more with the
    /// count, so that a flood of refused guesses costs the log a handful of entries.
    async fn refused(&self, key: &str, event: AuditEvent) -> AuthResult<()> {
        let count = self.store.throttle_refused(key).await?;
        // 1, 10, 100, …: a power of ten.
        let tenfold = count > 0 && 10_i64.pow(count.ilog10()) == count;
        if tenfold {
            let reason = format!("{} (refused {count} times)", event.reason);
            self.audit.record(event.reason(&reason)).await?;
        }
        Ok(())
    }

    /// Records an action before it is done, by `by` or (`None`) the command line.
    async fn record_first(
        &self,
        by: Option<&Principal>,
        action: &str,
        target: &str,
    ) -> AuthResult<()> {
        let event = match by {
            Some(by) => AuditEvent::by(by, action, target),
            None => AuditEvent::system("cli", action, target),
        };
        self.audit.record(event).await?;
        Ok(())
    }

    /// Records a deliberate access (a revealed number, a used recovery code, an admin action) in
    /// the audit log. Fail-closed: an error means the caller must not go on.
    pub async fn record(
        &self,
        principal: &Principal,
        action: &str,
        target: &str,
    ) -> AuthResult<()> {
        self.audit
            .record(AuditEvent::by(principal, action, target))
            .await?;
        Ok(())
    }

    async fn record_raw(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        client: &Client,
    ) -> AuthResult<()> {
        self.audit
            .record(AuditEvent::from_client(actor, client, action, target))
            .await?;
        Ok(())
    }

    /// The audit log, for callers that record reads.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Whether the principal may do a sensitive action now.
    pub fn require_recent_auth(&self, principal: &Principal) -> AuthResult<()> {
        let window = i64::try_from(self.policy().reauth_minutes).unwrap_or(5) * MINUTE;
        if principal.recently_authenticated(self.now(), window) {
            Ok(())
        } else {
            Err(AuthError::ReauthRequired)
        }
    }
}
