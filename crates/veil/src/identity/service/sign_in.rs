//! Signing in: password, second factor (TOTP or a recovery code), trusted devices, enrolment,
//! re-authentication before sensitive actions, and changing one's password.

use secrecy::{ExposeSecret, SecretString};
use veil_crypto::Aad;
use zeroize::Zeroizing;

use super::{
    AuthError, AuthResult, DEVICE_DAYS, Enrollment, Identity, LOGIN_LOCKED, MINUTE, SecondFactorOk,
    SessionToken, normalise_email,
};
use crate::audit::{AuditEvent, Outcome, alerts};
use crate::identity::password::check_new_password;
use crate::identity::throttle::{self, Counter};
use crate::identity::totp::{self, TotpSecret};
use crate::identity::{
    Client, OpaqueSecret, Principal, Role, STAGE_ENROLL, STAGE_FULL, STAGE_PASSWORD, STATUS_ACTIVE,
    network,
};
use crate::store::{SessionRow, UserChange, UserRow};

impl Identity {
    pub(super) fn new_session(
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
    pub(super) async fn insert_new_session(
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
    pub(super) async fn after_password(
        &self,
        user: &UserRow,
        client: &Client,
    ) -> AuthResult<SessionToken> {
        let stage = if user.totp_secret_ct.is_some() {
            STAGE_PASSWORD
        } else {
            STAGE_ENROLL
        };
        self.insert_new_session(user, stage, None, client).await
    }

    /// Replaces `old` by a new session (new id) at `stage`, freshly authenticated.
    pub(super) async fn rotate(
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
    pub(super) async fn hard_stopped(&self, key: &str) -> AuthResult<()> {
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
    pub(super) fn trusted_device(&self, cookie: &str, user_id: &str) -> Option<String> {
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

    pub(super) fn totp_of(
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
    pub(super) async fn check_second_factor(
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
}
