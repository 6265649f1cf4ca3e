//! Passwords: Argon2id hashing bounded by a semaphore, and the NIST SP 800-63B rules.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::AuthConfig;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// Why a new password was refused. The texts are shown to the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("use at least 12 characters")]
    TooShort,
    #[error("use at most 128 characters")]
    TooLong,
    #[error(
        "this password is too common or too easy to guess; a few unrelated words make a strong one"
    )]
    Guessable,
}

/// Checks a new password: length in characters (any character counts, spaces included), then a
/// guessability estimate against the common-password, name and word lists compiled into zxcvbn,
/// plus the user's own e-mail and name. No composition rules.
pub fn check_new_password(password: &str, personal: &[&str]) -> Result<(), PasswordRejected> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordRejected::TooLong);
    }
    let mut inputs: Vec<&str> = personal.to_vec();
    inputs.extend(["veil", "whatsapp", "inbox"]);
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if (estimate.score() as u8) < 3 {
        return Err(PasswordRejected::Guessable);
    }
    Ok(())
}

/// Hashing failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes waiting; the caller answers 429.
    #[error("too many logins at once")]
    Busy,
    #[error("password hashing failed")]
    Failed,
}

/// Argon2id with fixed parameters, run on blocking threads, at most `hash_concurrency` at once and
/// at most `hash_queue` waiting: a login flood gets 429 instead of exhausting memory.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// A hash of a random password, verified for unknown users so that they take as long.
    dummy: Arc<str>,
}

impl PasswordHashing {
    pub fn new(config: &AuthConfig) -> Result<Self, HashError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|_| HashError::Failed)?;
        let mut random = [0u8; 24];
        rand::fill(&mut random);
        let dummy = hash_now(&params, &hex::encode(random))?;
        Ok(Self {
            params,
            running: Arc::new(Semaphore::new(config.hash_concurrency)),
            admitted: Arc::new(Semaphore::new(
                config.hash_concurrency.saturating_add(config.hash_queue),
            )),
            dummy: dummy.into(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Params) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed)?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || work(&params))
            .await
            .map_err(|_| HashError::Failed)
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let password = password.clone();
        self.run(move |params| hash_now(params, password.expose_secret()))
            .await?
    }

    /// Verifies `password` against a stored PHC string, or against the dummy hash when there is
    /// none (unknown user, no password set yet), which always fails but takes as long.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<bool, HashError> {
        let password = password.clone();
        let (phc, real) = match stored {
            Some(phc) => (phc.to_owned(), true),
            None => (self.dummy.to_string(), false),
        };
        let ok = self
            .run(move |_| {
                let argon = Argon2::default();
                argon
                    .verify_password(password.expose_secret().as_bytes(), phc.as_str())
                    .is_ok()
            })
            .await?;
        Ok(ok && real)
    }
}

fn hash_now(params: &Params, password: &str) -> Result<String, HashError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| HashError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nist_rules() {
        assert_eq!(
            check_new_password("short", &[]),
            Err(PasswordRejected::TooShort)
        );
        assert_eq!(
            check_new_password(&"x".repeat(129), &[]),
            Err(PasswordRejected::TooLong)
        );
        for common in [
            "password1234",
            "123456789012",
            "qwertyuiop123",
            "iloveyou1234",
        ] {
            assert_eq!(
                check_new_password(common, &[]),
                Err(PasswordRejected::Guessable),
                "{common}"
            );
        }
        assert_eq!(
            check_new_password("maria.rossi@example.com", &["maria.rossi@example.com"]),
            Err(PasswordRejected::Guessable)
        );
        // No composition rules: lower-case words and spaces are fine, and so is any script.
        check_new_password("correct horse battery staple", &[]).unwrap();
        check_new_password("灯塔在海边等待远航的船只", &[]).unwrap();
        // 12 characters counted as characters, not bytes.
        assert_eq!(
            check_new_password("ééééééééééé", &[]),
            Err(PasswordRejected::TooShort)
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_at_owasp_minimum() {
        let hashing = PasswordHashing::new(&AuthConfig::default()).unwrap();
        let pw = SecretString::from("correct horse battery staple".to_owned());
        let phc = hashing.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hashing.verify(&pw, Some(&phc)).await.unwrap());
        let wrong = SecretString::from("correct horse battery stapler".to_owned());
        assert!(!hashing.verify(&wrong, Some(&phc)).await.unwrap());
        assert!(!hashing.verify(&pw, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_flood_is_refused_not_queued_without_bound() {
        let config = AuthConfig {
            hash_concurrency: 1,
            hash_queue: 0,
            ..AuthConfig::default()
        };
        let hashing = PasswordHashing::new(&config).unwrap();
        let held = hashing.admitted.clone().try_acquire_owned().unwrap();
        let pw = SecretString::from("correct horse battery staple".to_owned());
        assert!(matches!(hashing.hash(&pw).await, Err(HashError::Busy)));
        drop(held);
        assert!(hashing.hash(&pw).await.is_ok());
    }
}
