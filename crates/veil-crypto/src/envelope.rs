//! Envelope encryption: per-contact data keys seal fields; master keys seal data keys.
//!
//! Ciphertext layout: `0x01 || nonce (12) || AES-256-GCM(ciphertext || tag)`. The nonce is random;
//! with one data key per contact, a key seals far fewer than the 2^32 messages where random 96-bit
//! nonces would start to matter. The associated data names table, column and row, so a ciphertext
//! copied into another row or column no longer opens.

use std::fmt;

use ring::aead::{AES_256_GCM, Aad as RingAad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::{CryptoError, random_bytes};

const FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;

/// Associated data that binds a ciphertext to the one place it may live.
pub struct Aad {
    bytes: Vec<u8>,
}

impl Aad {
    /// A field of a row: `table.column` of the row with id `row`.
    pub fn field(table: &str, column: &str, row: &str) -> Self {
        Self::build(&["field", table, column, row])
    }

    /// A wrapped data key: the owner row (for example `contacts` + contact id) and the master version.
    pub fn wrapped_key(owner_table: &str, owner_row: &str, master_version: u32) -> Self {
        Self::build(&["key", owner_table, owner_row, &master_version.to_string()])
    }

    fn build(parts: &[&str]) -> Self {
        // Length-prefixed parts: no part can be forged by moving a separator.
        let mut bytes = b"veil/v1".to_vec();
        for part in parts {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        Self { bytes }
    }
}

/// A 256-bit AES-GCM key that seals a contact's fields (or the installation's own records).
/// Deliberately no `Clone`, `Serialize` or derived `Debug`; wiped on drop.
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").finish_non_exhaustive()
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            bytes: Zeroizing::new(random_bytes::<32>()?),
        })
    }

    pub(crate) fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self { bytes }
    }

    pub(crate) fn expose_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Encrypts `plaintext` for the place named by `aad`.
    pub fn seal(&self, aad: &Aad, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.bytes, aad, plaintext)
    }

    /// Decrypts what `seal` produced for the same `aad`. Fails on any other key or place.
    pub fn open(&self, aad: &Aad, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open_with(&self.bytes, aad, sealed)
    }

    /// Like `seal`, encrypting in the buffer it is given (for large files: no second copy when
    /// it has room for the 29 bytes of header and tag).
    pub fn seal_vec(&self, aad: &Aad, mut plaintext: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        let key = aead_key(&self.bytes)?;
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        plaintext.reserve(1 + NONCE_LEN + TAG_LEN);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                RingAad::from(aad.bytes.as_slice()),
                &mut plaintext,
            )
            .map_err(|_| CryptoError::Random)?;
        plaintext.splice(0..0, std::iter::once(FORMAT_V1).chain(nonce_bytes));
        plaintext.extend_from_slice(tag.as_ref());
        Ok(plaintext)
    }

    /// Like `open`, decrypting in the buffer it is given (for large files: no second copy).
    pub fn open_vec(&self, aad: &Aad, sealed: Vec<u8>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut buffer = Zeroizing::new(sealed);
        let header = 1 + NONCE_LEN;
        if buffer.first() != Some(&FORMAT_V1) || buffer.len() < header + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let nonce =
            Nonce::try_assume_unique_for_key(buffer.get(1..header).ok_or(CryptoError::Malformed)?)
                .map_err(|_| CryptoError::Malformed)?;
        let key = aead_key(&self.bytes)?;
        let plain_len = key
            .open_within(
                nonce,
                RingAad::from(aad.bytes.as_slice()),
                &mut buffer,
                header..,
            )
            .map_err(|_| CryptoError::Decrypt)?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }

    /// Like `open`, for text fields: invalid UTF-8 counts as a failed decryption.
    pub fn open_string(&self, aad: &Aad, sealed: &[u8]) -> Result<Zeroizing<String>, CryptoError> {
        let bytes = self.open(aad, sealed)?;
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// A data key sealed by a master key version, as stored in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// Which master key version sealed it.
    pub master_version: u32,
    /// The sealed bytes (same layout as any ciphertext).
    pub bytes: Vec<u8>,
}

pub(crate) fn seal_with(
    key: &[u8; 32],
    aad: &Aad,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = aead_key(key)?;
    let nonce_bytes = random_bytes::<NONCE_LEN>()?;
    // One buffer: header, then the plaintext encrypted where it lies, then the tag (a large
    // file costs its size once more, not twice).
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            RingAad::from(aad.bytes.as_slice()),
            out.get_mut(1 + NONCE_LEN..).ok_or(CryptoError::Malformed)?,
        )
        .map_err(|_| CryptoError::Random)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

pub(crate) fn open_with(
    key: &[u8; 32],
    aad: &Aad,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (version, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
    if *version != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed)?;
    let key = aead_key(key)?;
    let mut buffer = Zeroizing::new(body.to_vec());
    let plain_len = key
        .open_in_place(nonce, RingAad::from(aad.bytes.as_slice()), &mut buffer)
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

fn aead_key(bytes: &[u8; 32]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn open_vec_opens_what_seal_sealed_and_nothing_else() {
        let key = DataKey::generate().unwrap();
        let aad = Aad::field("media", "bytes", "m1");
        let sealed = key.seal(&aad, b"file bytes").unwrap();
        assert_eq!(
            &key.open_vec(&aad, sealed.clone()).unwrap()[..],
            b"file bytes"
        );
        let other = Aad::field("media", "bytes", "m2");
        assert!(key.open_vec(&other, sealed.clone()).is_err());
        let mut flipped = sealed;
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open_vec(&aad, flipped).is_err());
        assert!(key.open_vec(&aad, vec![FORMAT_V1]).is_err());
        let in_place = key.seal_vec(&aad, b"file bytes".to_vec()).unwrap();
        assert_eq!(&key.open(&aad, &in_place).unwrap()[..], b"file bytes");
    }

    #[test]
    fn sealed_field_opens_only_in_its_own_row() {
        let key = DataKey::generate().unwrap();
        let sealed = key
            .seal(&Aad::field("messages", "body", "m1"), b"hello")
            .unwrap();
        let opened = key
            .open(&Aad::field("messages", "body", "m1"), &sealed)
            .unwrap();
        assert_eq!(opened.as_slice(), b"hello");
        assert_eq!(
            key.open(&Aad::field("messages", "body", "m2"), &sealed),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            key.open(&Aad::field("messages", "raw", "m1"), &sealed),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn another_key_cannot_open() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        let aad = Aad::field("contacts", "name", "c1");
        let sealed = a.seal(&aad, b"Ana").unwrap();
        assert_eq!(b.open(&aad, &sealed), Err(CryptoError::Decrypt));
    }

    #[test]
    fn tampering_and_truncation_are_detected() {
        let key = DataKey::generate().unwrap();
        let aad = Aad::field("t", "c", "r");
        let sealed = key.seal(&aad, b"payload").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(key.open(&aad, &bad).is_err(), "flip at {i} went unnoticed");
        }
        assert_eq!(key.open(&aad, &sealed[..10]), Err(CryptoError::Malformed));
        assert_eq!(key.open(&aad, &[]), Err(CryptoError::Malformed));
    }

    #[test]
    fn aad_parts_cannot_be_shifted() {
        // "a|bc" and "ab|c" must give different associated data.
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(&Aad::field("a", "bc", "r"), b"x").unwrap();
        assert!(key.open(&Aad::field("ab", "c", "r"), &sealed).is_err());
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = DataKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), "DataKey { .. }");
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..2048), row in "[a-z0-9]{1,20}") {
            let key = DataKey::generate().unwrap();
            let aad = Aad::field("messages", "body", &row);
            let sealed = key.seal(&aad, &plain).unwrap();
            let opened = key.open(&aad, &sealed).unwrap();
            prop_assert_eq!(opened.as_slice(), plain.as_slice());
        }

        #[test]
        fn open_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let key = DataKey::generate().unwrap();
            let _ = key.open(&Aad::field("t", "c", "r"), &bytes);
        }
    }
}
