//! API bearer tokens: 256 random bits shown once, stored only as a SHA-256 hash.
//!
//! A full-entropy token needs no slow hash: nobody can guess a preimage, so looking the hash up in
//! the database leaks nothing useful through timing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use zeroize::Zeroizing;

use crate::{CryptoError, random_bytes};

const PREFIX: &str = "veil_";

/// A freshly minted token. Printed once to its owner; only its hash is kept.
pub struct ApiTokenSecret {
    text: Zeroizing<String>,
}

impl fmt::Debug for ApiTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiTokenSecret(..)")
    }
}

impl ApiTokenSecret {
    /// A new random token.
    pub fn generate() -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(random_bytes::<32>()?);
        Ok(Self {
            text: Zeroizing::new(format!(
                "{PREFIX}{}",
                URL_SAFE_NO_PAD.encode(bytes.as_slice())
            )),
        })
    }

    /// The token text, to show its owner once.
    pub fn expose_text(&self) -> &str {
        &self.text
    }

    /// The hash to store.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.text)
    }
}

/// SHA-256 of a token's text: what the database holds and looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub Vec<u8>);

impl TokenHash {
    /// Hash of a presented token (from an `Authorization` header, say).
    pub fn of(presented: &str) -> Self {
        Self(
            digest::digest(&digest::SHA256, presented.as_bytes())
                .as_ref()
                .to_vec(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_prefixed_and_hash_stably() {
        let a = ApiTokenSecret::generate().unwrap();
        let b = ApiTokenSecret::generate().unwrap();
        assert_ne!(a.expose_text(), b.expose_text());
        assert!(a.expose_text().starts_with("veil_"));
        assert_eq!(a.expose_text().len(), 5 + 43);
        assert_eq!(a.hash(), TokenHash::of(a.expose_text()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(format!("{a:?}"), "ApiTokenSecret(..)");
    }
}
