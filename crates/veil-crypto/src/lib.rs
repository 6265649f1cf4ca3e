//! Veil's cryptography: key types, envelope encryption, blind indexes, webhook signatures and
//! API-token hashing.
//!
//! This crate does no IO: it has no tokio, tracing or sqlx, so it cannot log or store a key. Every
//! primitive comes from `ring` (AES-256-GCM, HMAC-SHA256, SHA-256, the system RNG), `sha2` and
//! `ct-merkle` (the audit log's RFC 6962 tree) or `ed25519-dalek` (its signed checkpoints); nothing
//! here implements a cipher or a hash. Key types have no `Clone`, `Copy` or `Serialize`, print redacted,
//! and wipe their bytes on drop.

mod checkpoint;
mod envelope;
mod keyring;
pub mod merkle;
mod signature;
mod token;

pub use checkpoint::{AuditSigningKey, Checkpoint, CheckpointError, CheckpointVerifier};
pub use envelope::{Aad, DataKey, SealedKey};
pub use keyring::{IndexKey, KeyVersion, Keyring, MasterKey};
pub use signature::{SignatureError, sign_hub_body, verify_hub_signature};
pub use token::{ApiTokenSecret, TokenHash};

/// Everything that can go wrong in this crate. Variants carry no key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// A ciphertext did not authenticate: wrong key, wrong row (AAD), shredded key or tampering.
    #[error("ciphertext did not authenticate")]
    Decrypt,
    /// A ciphertext is shorter than its header or has an unknown format version.
    #[error("malformed ciphertext")]
    Malformed,
    /// A master-key version is referenced that the keyring does not hold.
    #[error("master key version {0} is not in the keyring")]
    UnknownKeyVersion(u32),
    /// The key file text could not be parsed; the payload names the line number.
    #[error("key file: {0}")]
    KeyFile(String),
}

/// SHA-256 of `bytes` (media integrity checks; not for secrets, which use HMAC or Argon2).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CryptoError::Random)?;
    Ok(out)
}
