//! Users: creating and inviting, setup links, administering (role, disable, reset 2FA), unlocking,
//! and the rank rule that says who may manage whom.

use secrecy::{ExposeSecret, SecretString};
use veil_crypto::{Aad, TokenHash};
use zeroize::Zeroizing;

use super::{AuthError, AuthResult, Identity, MINUTE, NewUser, SessionToken, normalise_email};
use crate::identity::password::check_new_password;
use crate::identity::totp::{self, TotpSecret};
use crate::identity::{Client, OpaqueSecret, Principal, Role, STATUS_ACTIVE, STATUS_DISABLED};
use crate::store::{UserChange, UserRow};

impl Identity {
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

    pub(super) async fn create_user_with_id(
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

    pub(super) async fn new_setup_link(&self, user_id: &str) -> AuthResult<OpaqueSecret> {
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

    /// The user `user_id`, when `by` (`None`: the command line) may manage them: a user of their
    /// own rank or below; a token, users whose role's permissions are all within its scopes.
    pub(super) async fn managed_user(
        &self,
        by: Option<&Principal>,
        user_id: &str,
    ) -> AuthResult<UserRow> {
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
}

/// Whether `by` may act on a user of `role`: a user of the same rank or below; a token (which
/// has no rank), only users whose role grants nothing beyond the token's scopes, so that a
/// token can never hand out more than it holds.
pub(super) fn may_manage(by: &Principal, role: Role) -> bool {
    match by.role() {
        Some(own) => own.may_manage(role),
        None => {
            by.can(crate::identity::Permission::UserManage)
                && role.permissions().is_subset_of(by.permissions)
        }
    }
}
