//! Signed tree heads: the C2SP `tlog-checkpoint` text (origin, size, base64 root) in a
//! C2SP `signed-note` with an Ed25519 signature. The format is what transparency logs publish,
//! so a checkpoint can be kept anywhere as plain text and checked by tools other than Veil.
//!
//! The signing key is the audit log's own (never an encryption key). It prints redacted and is
//! wiped on drop (`ed25519-dalek` zeroizes its secret).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ct_merkle::digest::Digest as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::merkle::Hash;
use crate::{CryptoError, random_bytes};

/// Ed25519's algorithm byte in signed-note key ids and verifier keys.
const ALG_ED25519: u8 = 0x01;

/// A tree head: the log `origin`, its `size` in entries and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The signed part: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }
}

/// Why a checkpoint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint: {0}")]
    Malformed(&'static str),
    #[error("no signature by this log's key")]
    NoSignature,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("not a verifier key: {0}")]
    BadKey(&'static str),
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ALG_ED25519])
        .chain_update(public)
        .finalize();
    let mut id = [0u8; 4];
    for (o, b) in id.iter_mut().zip(digest.iter()) {
        *o = *b;
    }
    id
}

/// The audit log's signing key.
pub struct AuditSigningKey {
    key: SigningKey,
}

impl fmt::Debug for AuditSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditSigningKey(..)")
    }
}

impl AuditSigningKey {
    /// A new random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let seed = Zeroizing::new(random_bytes::<32>()?);
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The key file's text: the 32-byte seed in base64.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(format!(
            "veil-audit-ed25519 {}\n",
            STANDARD.encode(seed.as_slice())
        ))
    }

    /// Reads the key file's text.
    pub fn from_file_text(text: &str) -> Result<Self, CryptoError> {
        let encoded = text
            .trim()
            .strip_prefix("veil-audit-ed25519 ")
            .ok_or_else(|| CryptoError::KeyFile("expected `veil-audit-ed25519 <base64>`".into()))?;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| CryptoError::KeyFile("the key is not base64".into()))?,
        );
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::KeyFile("the key is not 32 bytes".into()))?,
        );
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public half, named `origin` (the signed-note key name).
    pub fn verifier(&self, origin: &str) -> CheckpointVerifier {
        CheckpointVerifier {
            name: origin.to_owned(),
            key: self.key.verifying_key(),
        }
    }

    /// The signed note: body, blank line, `— <origin> base64(key id || signature)`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.key.sign(body.as_bytes());
        let public = self.key.verifying_key().to_bytes();
        let mut blob = key_id(&checkpoint.origin, &public).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{body}\n\u{2014} {} {}\n",
            checkpoint.origin,
            STANDARD.encode(blob)
        )
    }
}

/// A log's public key, as the signed-note verifier key text `<name>+<hex id>+<base64(0x01||key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerifier {
    name: String,
    key: VerifyingKey,
}

impl CheckpointVerifier {
    /// Parses verifier key text.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::BadKey("expected name+id+key"));
        };
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| CheckpointError::BadKey("the key is not base64"))?;
        let Some((&ALG_ED25519, public)) = bytes.split_first() else {
            return Err(CheckpointError::BadKey("not an Ed25519 key"));
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| CheckpointError::BadKey("the key is not 32 bytes"))?;
        if hex::encode(key_id(name, &public)) != id {
            return Err(CheckpointError::BadKey("the key id does not match"));
        }
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| CheckpointError::BadKey("not a valid Ed25519 point"))?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// The verifier key text.
    pub fn to_text(&self) -> String {
        let public = self.key.to_bytes();
        let mut blob = vec![ALG_ED25519];
        blob.extend_from_slice(&public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            STANDARD.encode(blob)
        )
    }

    /// Checks a signed note and returns the checkpoint it carries. Signatures by other keys are
    /// ignored (a note may carry several); one by this key must verify.
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let (body, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed(
            "no blank line before the signatures",
        ))?;
        let body = format!("{body}\n");
        let checkpoint = parse_body(&body)?;
        if checkpoint.origin != self.name {
            return Err(CheckpointError::NoSignature);
        }
        let public = self.key.to_bytes();
        let wanted_id = key_id(&self.name, &public);
        for line in signatures.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(CheckpointError::Malformed(
                    "a signature line must start with an em dash",
                ))?;
            let Some((name, blob)) = rest.split_once(' ') else {
                return Err(CheckpointError::Malformed(
                    "a signature line needs name and signature",
                ));
            };
            let blob = STANDARD
                .decode(blob)
                .map_err(|_| CheckpointError::Malformed("a signature is not base64"))?;
            if name != self.name || blob.get(..4) != Some(wanted_id.as_slice()) {
                continue;
            }
            let signature = blob
                .get(4..)
                .and_then(|s| Signature::from_slice(s).ok())
                .ok_or(CheckpointError::BadSignature)?;
            return self
                .key
                .verify(body.as_bytes(), &signature)
                .map(|()| checkpoint)
                .map_err(|_| CheckpointError::BadSignature);
        }
        Err(CheckpointError::NoSignature)
    }
}

fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
    let mut lines = body.lines();
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or(CheckpointError::Malformed("no origin line"))?;
    let size = lines
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(CheckpointError::Malformed("no size line"))?;
    let root = lines
        .next()
        .and_then(|r| STANDARD.decode(r).ok())
        .and_then(|r| <[u8; 32]>::try_from(r.as_slice()).ok())
        .ok_or(CheckpointError::Malformed("no root hash line"))?;
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_opens_and_any_change_is_refused() {
        let key = AuditSigningKey::generate().unwrap();
        let checkpoint = Checkpoint {
            origin: "veil.example/audit".into(),
            size: 42,
            root: [7u8; 32],
        };
        let note = key.sign(&checkpoint);
        let verifier = key.verifier("veil.example/audit");
        assert_eq!(verifier.open(&note).unwrap(), checkpoint);

        let parsed = CheckpointVerifier::parse(&verifier.to_text()).unwrap();
        assert_eq!(parsed, verifier);

        let forged = note.replace("\n42\n", "\n41\n");
        assert_eq!(verifier.open(&forged), Err(CheckpointError::BadSignature));
        let other = AuditSigningKey::generate()
            .unwrap()
            .verifier("veil.example/audit");
        assert_eq!(other.open(&note), Err(CheckpointError::NoSignature));

        let again = AuditSigningKey::from_file_text(&key.to_file_text()).unwrap();
        assert_eq!(again.verifier("veil.example/audit"), verifier);
        assert_eq!(format!("{key:?}"), "AuditSigningKey(..)");
    }
}
