//! `Identity`: logins, second factor, sessions, users and tokens, over the `Store`.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use veil_crypto::{Aad, TokenHash};
use zeroize::Zeroizing;

use super::password::{HashError, PasswordHashing, PasswordRejected, check_new_password};
use super::policy::AccessPolicy;
use super::throttle::{self, Counter, Policy, Verdict};
use super::totp::{self, TotpSecret};
use super::{
    Actor, Client, OpaqueSecret, Permissions, Principal, Role, STAGE_ENROLL, STAGE_FULL,
    STAGE_PASSWORD, STATUS_ACTIVE, STATUS_DISABLED, network,
};
use crate::audit::{AuditError, AuditEvent, AuditLog, Outcome, alerts};
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::{KeyError, Keys};
use crate::store::{ApiTokenRow, SessionRow, Store, StoreError, UserChange, UserRow};

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

    fn new_session(
        &self,
        user: &UserRow,
        stage: &str,
        client: &Client,
    ) -> AuthResult<SessionToken> {
        let secret = OpaqueSecret::generate().map_err(|_| AuthError::Internal("randomness"))?;
        let now = self.now();
        Ok(SessionToken {
            secret,
            row: SessionRow {
                id: uuid::Uuid::now_v7().to_string(),
                user_id: user.id.clone(),
                stage: stage.to_owned(),
                epoch: user.session_epoch,
                created_at: now,
                last_seen_at: now,
                authenticated_at: now,
                ip: client.ip.to_string(),
                user_agent: client.user_agent.clone(),
            },
        })
    }

    /// Stores a new session for `user` at `stage`, started at `created_at` (now if `None`).
    async fn insert_new_session(
        &self,
        user: &UserRow,
        stage: &str,
        created_at: Option<i64>,
        client: &Client,
    ) -> AuthResult<SessionToken> {
        let mut token = self.new_session(user, stage, client)?;
        if let Some(at) = created_at {
            token.row.created_at = at;
        }
        self.store
            .insert_session(&token.row, &token.secret.hash().0)
            .await?;
        Ok(token)
    }

    /// The session after a correct password: the second factor next, or its enrollment.
    async fn after_password(&self, user: &UserRow, client: &Client) -> AuthResult<SessionToken> {
        let stage = if user.totp_secret_ct.is_some() {
            STAGE_PASSWORD
        } else {
            STAGE_ENROLL
        };
        self.insert_new_session(user, stage, None, client).await
    }

    /// Replaces `old` by a new session (new id) at `stage`, freshly authenticated.
    async fn rotate(
        &self,
        old: &SessionRow,
        user: &UserRow,
        stage: &str,
        client: &Client,
    ) -> AuthResult<SessionToken> {
        let mut fresh = self.new_session(user, stage, client)?;
        fresh.row.created_at = old.created_at;
        self.store
            .rotate_session(&old.id, &fresh.row, &fresh.secret.hash().0)
            .await?;
        Ok(fresh)
    }

    /// First factor. Unknown users, disabled users, users outside their network and wrong
    /// passwords all get the same answer after the same work.
    ///
    /// `device` is the browser's device cookie (`device_cookie`), given to a browser after a
    /// complete sign-in. A browser whose cookie is good for this account is throttled on its
    /// own counter, so that strangers guessing the password (who share the account's counter)
    /// cannot keep the user out of their own browser; the account's hard stop still holds for
    /// everyone (OWASP's device cookies).
    pub async fn login(
        &self,
        email: &str,
        password: &SecretString,
        client: &Client,
        device: Option<&str>,
    ) -> AuthResult<SessionToken> {
        let email = normalise_email(email);
        let account = self.account_key(&email);
        let ip_key = network::throttle_key(client.ip);
        let user = self.store.user_by_email(&email).await?;
        let trusted = user
            .as_ref()
            .zip(device)
            .and_then(|(u, cookie)| self.trusted_device(cookie, &u.id));
        // The audit target: the account if it exists, else the keyed digest of the e-mail.
        let target = user
            .as_ref()
            .map_or_else(|| account.clone(), |u| format!("user:{}", u.id));
        let refused = |action: &str, reason: &str| {
            AuditEvent::from_client("anonymous", client, action, target.clone())
                .outcome(Outcome::Denied)
                .reason(reason)
        };
        let checks = match &trusted {
            Some(device_key) => {
                self.hard_stopped(&account).await?;
                [
                    (device_key.as_str(), throttle::ACCOUNT),
                    (&ip_key, throttle::CLIENT),
                ]
            }
            None => [
                (account.as_str(), throttle::ACCOUNT),
                (&ip_key, throttle::CLIENT),
            ],
        };
        if let Err(err) = self.reserve(&checks).await {
            self.refused(&account, refused(LOGIN_LOCKED, "too many attempts"))
                .await?;
            return Err(err);
        }
        let usable = user.as_ref().filter(|u| {
            u.status == STATUS_ACTIVE
                && Role::parse(&u.role).is_some_and(|r| {
                    network::allowed(&self.policy().ip_allowlist, r.as_str(), client.ip)
                })
        });
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verified = self.hashing.verify(password, stored).await?;
        let Some(user) = usable.filter(|_| verified) else {
            // The attempt was counted when it was reserved.
            self.audit
                .record(refused(alerts::LOGIN_FAILED, "password"))
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        // A success ends the counter it was throttled on: a trusted browser's own, so that
        // strangers' failures keep counting against them on the account's.
        self.store
            .throttle_clear(&[trusted.unwrap_or(account)])
            .await?;
        self.store.throttle_refund(&ip_key).await?;
        // The first factor passed: recorded before the half-signed-in session exists.
        self.record_raw(&target, "login.password", &target, client)
            .await?;
        self.after_password(user, client).await
    }

    /// Refuses (as a long wait) when `key` has reached the account hard stop.
    async fn hard_stopped(&self, key: &str) -> AuthResult<()> {
        let counters = self.store.throttle_counters(&[key.to_owned()]).await?;
        let counter = Counter {
            failures: counters.first().map_or(0, |(_, f, _)| *f),
            last_failure_at: 0,
        };
        if throttle::ACCOUNT.stopped(counter) {
            return Err(AuthError::Throttled(throttle::ACCOUNT.max_wait_secs));
        }
        Ok(())
    }

    /// A device cookie for `user_id`, issued now: `user id . issued ms . MAC` (the MAC is the
    /// installation's keyed blind index of the rest, so nothing is stored).
    pub fn device_cookie(&self, user_id: &str) -> String {
        let body = format!("{user_id}.{}", self.now());
        let mac = hex::encode(self.keys.blind("device-cookie", &body));
        format!("{body}.{mac}")
    }

    /// The throttle key of a good device cookie of `user_id` (at most `DEVICE_DAYS` old).
    fn trusted_device(&self, cookie: &str, user_id: &str) -> Option<String> {
        use subtle::ConstantTimeEq as _;
        let (body, mac) = cookie.rsplit_once('.')?;
        let (owner, issued) = body.rsplit_once('.')?;
        let issued: i64 = issued.parse().ok()?;
        let age = self.now() - issued;
        let expected = hex::encode(self.keys.blind("device-cookie", body));
        let good: bool = expected.as_bytes().ct_eq(mac.as_bytes()).into();
        (good && owner == user_id && (0..DEVICE_DAYS * 24 * 60 * MINUTE).contains(&age))
            .then(|| format!("dev:{}", mac.get(..32).unwrap_or(mac)))
    }

    /// Resolves a session cookie: the session and its user, if the session is still valid.
    /// Expired or ended sessions are deleted.
    pub async fn session(
        &self,
        secret: &str,
        client: &Client,
    ) -> AuthResult<(SessionRow, UserRow)> {
        if secret.len() > 128 {
            return Err(AuthError::NoSession);
        }
        let hash = TokenHash::of(secret);
        let session = self
            .store
            .session_by_hash(&hash.0)
            .await?
            .ok_or(AuthError::NoSession)?;
        let user = self
            .store
            .user_by_id(&session.user_id)
            .await?
            .ok_or(AuthError::NoSession)?;
        let now = self.now();
        let auth = self.policy();
        let idle = if session.stage == STAGE_FULL {
            i64::try_from(auth.session_idle_minutes).unwrap_or(30) * MINUTE
        } else {
            PENDING_LIFETIME_MS
        };
        let absolute = i64::try_from(auth.session_absolute_hours).unwrap_or(12) * 60 * MINUTE;
        let valid = user.status == STATUS_ACTIVE
            && session.epoch == user.session_epoch
            && now - session.last_seen_at <= idle
            && now - session.created_at <= absolute;
        if !valid {
            self.store.delete_session(&user.id, &session.id).await?;
            return Err(AuthError::NoSession);
        }
        let role = Role::parse(&user.role).ok_or(AuthError::NoSession)?;
        if !network::allowed(&auth.ip_allowlist, role.as_str(), client.ip) {
            return Err(AuthError::NetworkDenied);
        }
        if now - session.last_seen_at >= TOUCH_EVERY_MS {
            self.store.touch_session(&session.id, now).await?;
        }
        Ok((session, user))
    }

    /// A full principal from a session cookie (both factors done).
    pub async fn principal_for_session(
        &self,
        secret: &str,
        client: &Client,
    ) -> AuthResult<Principal> {
        let (session, user) = self.session(secret, client).await?;
        Self::principal(session, user, client)
    }

    /// The principal of a resolved session, once both factors are done.
    pub fn principal(session: SessionRow, user: UserRow, client: &Client) -> AuthResult<Principal> {
        if session.stage != STAGE_FULL {
            return Err(AuthError::SecondFactorPending);
        }
        let role = Role::parse(&user.role).ok_or(AuthError::NoSession)?;
        Ok(Principal {
            permissions: role.permissions(),
            actor: Actor::User {
                user: Box::new(user),
                role,
                session: Box::new(session),
            },
            client: client.clone(),
        })
    }

    /// A principal from an API token.
    pub async fn principal_for_token(
        &self,
        presented: &str,
        client: &Client,
    ) -> AuthResult<Principal> {
        if presented.len() > 256 {
            return Err(AuthError::NoSession);
        }
        let token = self
            .store
            .api_token_by_hash(&TokenHash::of(presented).0)
            .await?
            .ok_or(AuthError::NoSession)?;
        let now = self.now();
        if token.expires_at.is_some_and(|at| now >= at) {
            return Err(AuthError::NoSession);
        }
        if !network::allowed(&self.policy().ip_allowlist, "token", client.ip) {
            return Err(AuthError::NetworkDenied);
        }
        if token
            .last_used_at
            .is_none_or(|at| now - at >= TOUCH_EVERY_MS)
        {
            self.store.touch_api_token(&token.id, now).await?;
        }
        let permissions = Permissions::parse_names(&token.scopes).unwrap_or_default();
        Ok(Principal {
            permissions,
            actor: Actor::Token(Box::new(token)),
            client: client.clone(),
        })
    }

    fn totp_of(
        &self,
        user: &UserRow,
        sealed: Option<&Vec<u8>>,
        column: &str,
    ) -> AuthResult<TotpSecret> {
        let sealed = sealed.ok_or(AuthError::InvalidCode)?;
        let bytes = self
            .keys
            .system()
            .open(&Aad::field("users", column, &user.id), sealed)
            .map_err(|_| AuthError::Internal("second-factor secret unreadable"))?;
        Ok(TotpSecret::from_bytes(bytes.to_vec()))
    }

    /// Checks a TOTP code (accepting its step once) or a recovery code for `user`.
    /// Returns `Some(left)` when a recovery code was used.
    async fn check_second_factor(
        &self,
        user: &UserRow,
        code: &str,
        client: &Client,
    ) -> AuthResult<Option<i64>> {
        let key = format!("2fa:{}", user.id);
        let who = format!("user:{}", user.id);
        if let Err(err) = self.reserve(&[(&key, throttle::SECOND_FACTOR)]).await {
            let event = AuditEvent::from_client("anonymous", client, LOGIN_LOCKED, who)
                .outcome(Outcome::Denied)
                .reason("second factor: too many attempts");
            self.refused(&key, event).await?;
            return Err(err);
        }
        let now = self.now();
        let outcome = if totp::looks_like_recovery_code(code) {
            if self
                .store
                .use_recovery_code(&user.id, &totp::recovery_code_hash(code), now)
                .await?
            {
                Some(Some(self.store.recovery_codes_left(&user.id).await?))
            } else {
                None
            }
        } else {
            let secret = self.totp_of(user, user.totp_secret_ct.as_ref(), "totp_secret")?;
            match secret.check(code, now / 1000) {
                // The compare-and-set makes a code good once, also when two requests race.
                Some(step) if self.store.accept_totp_step(&user.id, step).await? => Some(None),
                _ => None,
            }
        };
        match outcome {
            Some(used_recovery) => {
                self.store.throttle_clear(&[key]).await?;
                if used_recovery.is_some() {
                    self.record_raw(&who, "recovery_code.used", &who, client)
                        .await?;
                }
                Ok(used_recovery)
            }
            None => {
                // The attempt was counted when it was reserved.
                self.audit
                    .record(
                        AuditEvent::from_client("anonymous", client, alerts::LOGIN_FAILED, who)
                            .outcome(Outcome::Denied)
                            .reason("second factor"),
                    )
                    .await?;
                Err(AuthError::InvalidCode)
            }
        }
    }

    /// Second factor after the password: the session becomes full under a new id.
    pub async fn second_factor(
        &self,
        session: &SessionRow,
        user: &UserRow,
        code: &str,
        client: &Client,
    ) -> AuthResult<SecondFactorOk> {
        if session.stage != STAGE_PASSWORD {
            return Err(AuthError::NoSession);
        }
        let recovery_codes_left = self.check_second_factor(user, code, client).await?;
        // Recorded before the session becomes full: a sign-in that cannot be recorded fails.
        self.audit
            .record(AuditEvent::from_client(
                &format!("user:{}", user.id),
                client,
                alerts::LOGIN_OK,
                format!("user:{}", user.id),
            ))
            .await?;
        let session = self.rotate(session, user, STAGE_FULL, client).await?;
        Ok(SecondFactorOk {
            session,
            recovery_codes_left,
        })
    }

    /// Starts (or shows again) enrollment: a pending secret, its URI and QR code.
    pub async fn enrollment(&self, session: &SessionRow, user: &UserRow) -> AuthResult<Enrollment> {
        if session.stage != STAGE_ENROLL {
            return Err(AuthError::NoSession);
        }
        let secret = match &user.totp_pending_ct {
            Some(_) => self.totp_of(user, user.totp_pending_ct.as_ref(), "totp_pending")?,
            None => {
                let secret = TotpSecret::generate();
                let sealed = self
                    .keys
                    .system()
                    .seal(
                        &Aad::field("users", "totp_pending", &user.id),
                        secret.as_bytes(),
                    )
                    .map_err(|_| AuthError::Internal("sealing"))?;
                self.store
                    .set_totp_pending(&user.id, &sealed, self.now())
                    .await?;
                secret
            }
        };
        let uri = secret
            .otpauth_uri(&user.email)
            .ok_or(AuthError::Internal("otpauth uri"))?;
        let qr_svg = totp::qr_svg(&uri).ok_or(AuthError::Internal("qr code"))?;
        Ok(Enrollment {
            secret_base32: secret.base32(),
            uri,
            qr_svg,
        })
    }

    /// Confirms enrollment with a valid code: the second factor is on, ten recovery codes are
    /// returned (shown once), and the session becomes full under a new id.
    pub async fn confirm_enrollment(
        &self,
        session: &SessionRow,
        user: &UserRow,
        code: &str,
        client: &Client,
    ) -> AuthResult<(SessionToken, Vec<Zeroizing<String>>)> {
        if session.stage != STAGE_ENROLL {
            return Err(AuthError::NoSession);
        }
        let key = format!("2fa:{}", user.id);
        self.reserve(&[(&key, throttle::SECOND_FACTOR)]).await?;
        let pending = self.totp_of(user, user.totp_pending_ct.as_ref(), "totp_pending")?;
        let now = self.now();
        let Some(step) = pending.check(code, now / 1000) else {
            return Err(AuthError::InvalidCode);
        };
        let sealed = self
            .keys
            .system()
            .seal(
                &Aad::field("users", "totp_secret", &user.id),
                pending.as_bytes(),
            )
            .map_err(|_| AuthError::Internal("sealing"))?;
        let (codes, hashes) = totp::new_recovery_codes();
        let who = format!("user:{}", user.id);
        self.audit
            .append(vec![
                AuditEvent::from_client(&who, client, "2fa.enroll", who.clone()),
                AuditEvent::from_client(&who, client, alerts::LOGIN_OK, who.clone()),
            ])
            .await?;
        self.store
            .confirm_totp(&user.id, &sealed, step, &hashes, now)
            .await?;
        self.store.throttle_clear(&[key]).await?;
        let session = self.rotate(session, user, STAGE_FULL, client).await?;
        Ok((session, codes))
    }

    /// Password and code again, for sensitive actions: the session gets a new id and a fresh
    /// authentication time.
    pub async fn reauthenticate(
        &self,
        principal: &Principal,
        password: &SecretString,
        code: &str,
    ) -> AuthResult<SessionToken> {
        let (Some(user), Some(session)) = (principal.user(), principal.session()) else {
            return Err(AuthError::Forbidden);
        };
        let account = self.account_key(&user.email);
        self.reserve(&[(&account, throttle::ACCOUNT)]).await?;
        if !self
            .hashing
            .verify(password, user.password_hash.as_deref())
            .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        self.store.throttle_clear(&[account]).await?;
        self.check_second_factor(user, code, &principal.client)
            .await?;
        self.record(principal, "session.reauth", &format!("user:{}", user.id))
            .await?;
        self.rotate(session, user, STAGE_FULL, &principal.client)
            .await
    }

    /// Ten new recovery codes for the caller; the old ones stop working. Recorded.
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &Principal,
    ) -> AuthResult<Vec<Zeroizing<String>>> {
        let user = principal.user().ok_or(AuthError::Forbidden)?;
        if user.totp_secret_ct.is_none() {
            return Err(AuthError::Forbidden);
        }
        let (codes, hashes) = totp::new_recovery_codes();
        let who = format!("user:{}", user.id);
        self.record(principal, "recovery_codes.regenerate", &who)
            .await?;
        self.store.replace_recovery_codes(&user.id, &hashes).await?;
        Ok(codes)
    }

    pub async fn logout(&self, session: &SessionRow) -> AuthResult<()> {
        let who = format!("user:{}", session.user_id);
        let mut event =
            AuditEvent::system(&who, "session.logout", format!("session:{}", session.id));
        event.ip.clone_from(&session.ip);
        self.audit.record(event).await?;
        self.store
            .delete_session(&session.user_id, &session.id)
            .await?;
        Ok(())
    }

    /// Ends the caller's other sessions; returns how many.
    pub async fn logout_others(&self, principal: &Principal) -> AuthResult<u64> {
        let session = principal.session().ok_or(AuthError::Forbidden)?;
        self.record(
            principal,
            "session.revoke_others",
            &format!("user:{}", session.user_id),
        )
        .await?;
        Ok(self
            .store
            .delete_sessions_of(&session.user_id, Some(&session.id))
            .await?)
    }

    /// Ends one of the caller's own sessions.
    pub async fn end_own_session(&self, principal: &Principal, id: &str) -> AuthResult<()> {
        let user = principal.user().ok_or(AuthError::Forbidden)?;
        self.record(principal, "session.revoke", &format!("session:{id}"))
            .await?;
        if self.store.delete_session(&user.id, id).await? {
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }

    /// Changes the caller's password: the current password (throttled like a sign-in, on the
    /// account) and the second factor first, the entry before the change; every session ends
    /// and the caller gets a new one. The new session keeps the old one's authentication time:
    /// a password change is not a re-authentication (a stolen cookie cannot use it to pass the
    /// re-authentication checks of sensitive actions).
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &SecretString,
        code: &str,
        new: &SecretString,
    ) -> AuthResult<SessionToken> {
        let (Some(user), Some(session)) = (principal.user(), principal.session()) else {
            return Err(AuthError::Forbidden);
        };
        let account = self.account_key(&user.email);
        let who = format!("user:{}", user.id);
        if let Err(err) = self.reserve(&[(&account, throttle::ACCOUNT)]).await {
            let event = AuditEvent::by(principal, LOGIN_LOCKED, &who)
                .outcome(Outcome::Denied)
                .reason("password change: too many attempts");
            self.refused(&account, event).await?;
            return Err(err);
        }
        if !self
            .hashing
            .verify(current, user.password_hash.as_deref())
            .await?
        {
            self.audit
                .record(
                    AuditEvent::by(principal, "user.password_change", &who)
                        .outcome(Outcome::Denied)
                        .reason("password"),
                )
                .await?;
            return Err(AuthError::InvalidCredentials);
        }
        self.store.throttle_clear(&[account]).await?;
        self.check_second_factor(user, code, &principal.client)
            .await?;
        check_new_password(new.expose_secret(), &[&user.email, &user.display_name])?;
        let hash = self.hashing.hash(new).await?;
        self.record(principal, "user.password_change", &who).await?;
        self.store
            .change_user(&user.id, &UserChange::Password(hash), self.now())
            .await?;
        let fresh = self
            .store
            .user_by_id(&user.id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let mut token = self.new_session(&fresh, STAGE_FULL, &principal.client)?;
        token.row.created_at = session.created_at;
        token.row.authenticated_at = session.authenticated_at;
        self.store
            .insert_session(&token.row, &token.secret.hash().0)
            .await?;
        Ok(token)
    }

    /// Creates a user and a one-time setup link. `by` is `None` for the command line (the
    /// operator of the machine), else the acting principal, who must outrank the new role.
    pub async fn create_user(
        &self,
        by: Option<&Principal>,
        email: &str,
        display_name: &str,
        role: Role,
        language: &str,
    ) -> AuthResult<NewUser> {
        let id = uuid::Uuid::now_v7().to_string();
        if by.is_none() {
            self.record_first(None, "user.create", &format!("user:{id}"))
                .await?;
        }
        self.create_user_with_id(by, &id, email, display_name, role, language)
            .await
    }

    async fn create_user_with_id(
        &self,
        by: Option<&Principal>,
        id: &str,
        email: &str,
        display_name: &str,
        role: Role,
        language: &str,
    ) -> AuthResult<NewUser> {
        if by.is_some_and(|by| !may_manage(by, role)) {
            return Err(AuthError::Forbidden);
        }
        let email = normalise_email(email);
        if email.len() > 254 || !email.contains('@') || email.chars().any(char::is_whitespace) {
            return Err(AuthError::Invalid("not an e-mail address".into()));
        }
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "a name of 1 to 100 characters is needed".into(),
            ));
        }
        if !crate::i18n::is_choice(language) {
            let codes: Vec<&str> = crate::i18n::Lang::ALL.iter().map(|l| l.code()).collect();
            return Err(AuthError::Invalid(format!(
                "language must be {} or one of {}",
                crate::i18n::AUTO,
                codes.join(", ")
            )));
        }
        let now = self.now();
        let user = UserRow {
            id: id.to_owned(),
            email,
            display_name: display_name.to_owned(),
            role: role.as_str().to_owned(),
            status: STATUS_ACTIVE.to_owned(),
            language: language.to_owned(),
            password_hash: None,
            totp_secret_ct: None,
            totp_pending_ct: None,
            totp_last_step: None,
            session_epoch: 0,
            created_at: now,
            updated_at: now,
        };
        if !self.store.insert_user(&user).await? {
            return Err(AuthError::Invalid("a user with this e-mail exists".into()));
        }
        let setup_secret = self.new_setup_link(&user.id).await?;
        Ok(NewUser { user, setup_secret })
    }

    /// An invitation: creates the user, records it, and returns the user with the one-time
    /// setup link (`public_url/setup/…`), to be shown once to the person who invited. A setup
    /// link is a credential of the new user: a token never receives one. For a token the link
    /// goes by e-mail to the invitee (the SMTP server of `[alerts]`), and without mail
    /// delivery a token cannot invite.
    pub async fn invite_user(
        &self,
        by: &Principal,
        email: &str,
        display_name: &str,
        role: Role,
        language: &str,
    ) -> AuthResult<(UserRow, Option<Zeroizing<String>>)> {
        if !may_manage(by, role) {
            return Err(AuthError::Forbidden);
        }
        let by_token = by.role().is_none();
        if by_token && !crate::mail::configured(&self.config.alerts) {
            return Err(AuthError::Invalid(
                "an API token cannot invite without mail delivery ([alerts] smtp_host, smtp_from): \
                 the setup link goes to the invitee, never to the token"
                    .into(),
            ));
        }
        // Recorded before the user exists (the id is chosen here), so an invitation whose entry
        // cannot be written leaves no user behind.
        let id = uuid::Uuid::now_v7().to_string();
        self.record(by, "user.create", &format!("user:{id}"))
            .await?;
        let created = self
            .create_user_with_id(Some(by), &id, email, display_name, role, language)
            .await?;
        let link = Zeroizing::new(format!(
            "{}/setup/{}",
            self.config.public_url,
            created.setup_secret.expose_text()
        ));
        if by_token {
            let body = format!(
                "You have been invited to Veil, the WhatsApp inbox.\n\nSet your password and second factor here (the link works once, for {} hours):\n{}\n",
                self.config.auth.setup_link_hours,
                link.as_str()
            );
            crate::mail::send(
                &self.config.alerts,
                &created.user.email,
                "Your Veil account",
                body,
            )
            .await
            .map_err(|_| AuthError::Internal("the invitation could not be mailed"))?;
            return Ok((created.user, None));
        }
        Ok((created.user, Some(link)))
    }

    async fn new_setup_link(&self, user_id: &str) -> AuthResult<OpaqueSecret> {
        let secret = OpaqueSecret::generate().map_err(|_| AuthError::Internal("randomness"))?;
        let hours = i64::try_from(self.config.auth.setup_link_hours).unwrap_or(72);
        self.store
            .insert_setup_token(&secret.hash().0, user_id, self.now() + hours * 60 * MINUTE)
            .await?;
        Ok(secret)
    }

    /// The user a setup link belongs to, if it is still good.
    pub async fn setup_link_user(&self, secret: &str) -> AuthResult<UserRow> {
        let user_id = self
            .store
            .setup_token_user(&TokenHash::of(secret).0, self.now())
            .await?
            .ok_or(AuthError::NotFound)?;
        self.store
            .user_by_id(&user_id)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Sets the first password through a setup link; returns a session that must enroll next.
    pub async fn complete_setup(
        &self,
        secret: &str,
        password: &SecretString,
        client: &Client,
    ) -> AuthResult<SessionToken> {
        let user = self.setup_link_user(secret).await?;
        check_new_password(password.expose_secret(), &[&user.email, &user.display_name])?;
        let hash = self.hashing.hash(password).await?;
        let who = format!("user:{}", user.id);
        self.record_raw(&who, "user.setup", &who, client).await?;
        self.store
            .complete_setup(&TokenHash::of(secret).0, &hash, self.now())
            .await?
            .ok_or(AuthError::NotFound)?;
        let user = self
            .store
            .user_by_id(&user.id)
            .await?
            .ok_or(AuthError::NotFound)?;
        self.after_password(&user, client).await
    }

    /// Sets a password directly (first owner of the demo, tests).
    pub async fn set_password(&self, user_id: &str, password: &SecretString) -> AuthResult<()> {
        let hash = self.hashing.hash(password).await?;
        self.store
            .change_user(user_id, &UserChange::Password(hash), self.now())
            .await?;
        Ok(())
    }

    /// Enrolls a second factor directly with a given secret (demo and tests).
    pub async fn enroll_directly(
        &self,
        user_id: &str,
        secret: &TotpSecret,
    ) -> AuthResult<Vec<Zeroizing<String>>> {
        let sealed = self
            .keys
            .system()
            .seal(
                &Aad::field("users", "totp_secret", user_id),
                secret.as_bytes(),
            )
            .map_err(|_| AuthError::Internal("sealing"))?;
        let (codes, hashes) = totp::new_recovery_codes();
        self.store
            .confirm_totp(user_id, &sealed, 0, &hashes, self.now())
            .await?;
        Ok(codes)
    }

    /// A change to a user by `by` (`None`: the command line), recorded as `action` before it is
    /// done: a change whose entry cannot be written does not happen. A principal must outrank
    /// the user (and the new role). Disabling or demoting a user revokes the API tokens they
    /// created that now exceed what they may do.
    pub async fn administer_user(
        &self,
        by: Option<&Principal>,
        user_id: &str,
        change: &UserChange,
        action: &str,
    ) -> AuthResult<UserRow> {
        let target = self.managed_user(by, user_id).await?;
        let allowed = match change {
            UserChange::Role(r) => {
                let Some(new) = Role::parse(r) else {
                    return Err(AuthError::Invalid("unknown role".into()));
                };
                by.is_none_or(|by| by.role().is_some_and(|own| own.may_manage(new)))
            }
            UserChange::Status(s) => s == STATUS_ACTIVE || s == STATUS_DISABLED,
            UserChange::Password(_) => by.is_none(),
            UserChange::ResetSecondFactor => true,
        };
        // Roles and status change only by a person (or the operator): never by a token.
        if !allowed || by.is_some_and(|by| by.role().is_none()) {
            return Err(AuthError::Forbidden);
        }
        self.record_first(by, action, &format!("user:{user_id}"))
            .await?;
        self.store.change_user(user_id, change, self.now()).await?;
        let changed = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if changed.role != target.role || changed.status != target.status {
            self.revoke_tokens_beyond(&changed).await?;
        }
        Ok(changed)
    }

    /// Revokes the tokens `user` created (and the tokens those created) whose scopes exceed what
    /// the user may do now (a disabled user: every one). Each revocation is recorded.
    async fn revoke_tokens_beyond(&self, user: &UserRow) -> AuthResult<()> {
        let allowed = if user.status == STATUS_ACTIVE {
            Role::parse(&user.role).map_or(Permissions::default(), Role::permissions)
        } else {
            Permissions::default()
        };
        let tokens = self.store.list_api_tokens().await?;
        let mut creators = vec![format!("user:{}", user.id)];
        let mut revoked = Vec::new();
        while let Some(creator) = creators.pop() {
            for t in &tokens {
                let scopes = Permissions::parse_names(&t.scopes).unwrap_or_default();
                if t.revoked_at.is_none()
                    && t.created_by.as_deref() == Some(creator.as_str())
                    && !revoked.contains(&t.id)
                    && !scopes.is_subset_of(allowed)
                {
                    revoked.push(t.id.clone());
                    creators.push(format!("token:{}", t.id));
                }
            }
        }
        for id in revoked {
            self.audit
                .record(
                    AuditEvent::system("system", "token.revoke", format!("token:{id}"))
                        .reason(&format!("creator user:{} lost the permissions", user.id)),
                )
                .await?;
            self.store.revoke_api_token(&id, self.now()).await?;
        }
        Ok(())
    }

    /// Ends every session of a user (admin "log out this user"), recorded.
    pub async fn logout_user(&self, by: Option<&Principal>, user_id: &str) -> AuthResult<u64> {
        self.managed_user(by, user_id).await?;
        self.record_first(by, "user.logout", &format!("user:{user_id}"))
            .await?;
        Ok(self.store.delete_sessions_of(user_id, None).await?)
    }

    /// A user's sessions (where from, which browser), for those who may manage the user; the
    /// read is recorded before it is returned.
    pub async fn sessions_of_user(
        &self,
        by: &Principal,
        user_id: &str,
    ) -> AuthResult<Vec<SessionRow>> {
        self.managed_user(Some(by), user_id).await?;
        let sessions = self.store.sessions_of(user_id).await?;
        self.record(by, "user.sessions", &format!("user:{user_id}"))
            .await?;
        Ok(sessions)
    }

    /// Lifts the throttles and hard stops of an account: password and second factor. `by` is
    /// `None` for the command line; a principal must outrank the user. The entry is written
    /// first: an unlock that cannot be recorded does not happen.
    pub async fn unlock(&self, by: Option<&Principal>, user_id: &str) -> AuthResult<()> {
        let target = self.managed_user(by, user_id).await?;
        self.record_first(by, "user.unlock", &format!("user:{user_id}"))
            .await?;
        let key = self.account_key(&normalise_email(&target.email));
        self.store
            .throttle_clear(&[key, format!("2fa:{user_id}")])
            .await?;
        Ok(())
    }

    /// Revokes an API token, recorded first; `false` when there is no such active token.
    pub async fn revoke_token(&self, by: Option<&Principal>, id: &str) -> AuthResult<bool> {
        self.record_first(by, "token.revoke", &format!("token:{id}"))
            .await?;
        Ok(self.store.revoke_api_token(id, self.now()).await?)
    }

    /// Housekeeping: deletes throttle counters that protect nothing any more (e-mails of no
    /// account and client addresses, a day after their last failure; counters of real accounts
    /// stay until a success or an unlock) and sessions past their idle or absolute lifetime.
    /// Returns (counters, sessions) deleted.
    pub async fn sweep(&self) -> AuthResult<(u64, u64)> {
        const DAY_MS: i64 = 86_400_000;
        let now = self.now();
        let accounts: Vec<String> = self
            .store
            .list_users()
            .await?
            .iter()
            .map(|u| self.account_key(&u.email))
            .collect();
        let mut counters = self
            .store
            .throttle_sweep("acct:", now - DAY_MS, &accounts)
            .await?;
        counters += self.store.throttle_sweep("ip:", now - DAY_MS, &[]).await?;
        let policy = self.policy();
        let idle = i64::try_from(policy.session_idle_minutes).unwrap_or(30) * MINUTE;
        let absolute = i64::try_from(policy.session_absolute_hours).unwrap_or(12) * 60 * MINUTE;
        let sessions = self
            .store
            .delete_expired_sessions(now - idle, now - absolute)
            .await?;
        Ok((counters, sessions))
    }

    /// The user `user_id`, when `by` (`None`: the command line) may manage them: a user of their
    /// own rank or below; a token, users whose role's permissions are all within its scopes.
    async fn managed_user(&self, by: Option<&Principal>, user_id: &str) -> AuthResult<UserRow> {
        let target = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let role = Role::parse(&target.role).ok_or(AuthError::NotFound)?;
        if let Some(by) = by
            && !may_manage(by, role)
        {
            return Err(AuthError::Forbidden);
        }
        Ok(target)
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

    /// Creates an API token with `scopes`, which must be within the creator's own permissions.
    pub async fn create_token(
        &self,
        by: Option<&Principal>,
        name: &str,
        scopes: Permissions,
        expires_at: Option<i64>,
    ) -> AuthResult<(ApiTokenRow, OpaqueSecret)> {
        if let Some(by) = by
            && !scopes.is_subset_of(by.permissions)
        {
            return Err(AuthError::Forbidden);
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid(
                "a name of 1 to 100 characters is needed".into(),
            ));
        }
        if scopes == Permissions::default() {
            return Err(AuthError::Invalid(
                "a token needs at least one scope".into(),
            ));
        }
        let now = self.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::Invalid("expiry must be in the future".into()));
        }
        let secret = OpaqueSecret::generate().map_err(|_| AuthError::Internal("randomness"))?;
        let id = uuid::Uuid::now_v7().to_string();
        self.record_first(by, "token.create", &format!("token:{id}"))
            .await?;
        let row = ApiTokenRow {
            id,
            name: name.to_owned(),
            scopes: scopes.to_names(),
            created_at: now,
            expires_at,
            revoked_at: None,
            created_by: by.map(Principal::label),
            last_used_at: None,
        };
        self.store.insert_api_token(&row, &secret.hash().0).await?;
        Ok((row, secret))
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

/// Whether `by` may act on a user of `role`: a user of the same rank or below; a token (which
/// has no rank), only users whose role grants nothing beyond the token's scopes, so that a
/// token can never hand out more than it holds.
fn may_manage(by: &Principal, role: Role) -> bool {
    match by.role() {
        Some(own) => own.may_manage(role),
        None => {
            by.can(super::Permission::UserManage) && role.permissions().is_subset_of(by.permissions)
        }
    }
}
