//! The keyring: versioned master keys that seal data keys, and the separate blind-index key.
//!
//! The keyring lives outside the database (a 0600 file or the environment). Its text form is
//! parsed and produced here; reading and writing the file is the caller's business.
//!
//! ```text
//! veil-keyring v1
//! index <base64 32 bytes>
//! master 1 <base64 32 bytes>
//! master 2 <base64 32 bytes>
//! current 2
//! ```

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use zeroize::Zeroizing;

use crate::envelope::{open_with, seal_with};
use crate::{Aad, CryptoError, DataKey, SealedKey, random_bytes};

const HEADER: &str = "veil-keyring v1";

/// A master key's version number. Stored beside every sealed data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyVersion(pub u32);

/// One version of the master key. Never leaves this crate as bytes except through the key file text.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").finish_non_exhaustive()
    }
}

/// The key for blind indexes (keyed HMAC of normalised identifiers such as phone numbers).
/// Separate from the master keys so that rotating one never touches the other.
pub struct IndexKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexKey").finish_non_exhaustive()
    }
}

impl IndexKey {
    /// The blind index of `value` in `domain` (e.g. `"wa_id"`): HMAC-SHA256 truncated to 16 bytes.
    /// Equal inputs give equal outputs, so the database can look them up without knowing them.
    pub fn blind(&self, domain: &str, value: &str) -> Vec<u8> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.as_slice());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let tag = ctx.sign();
        tag.as_ref().iter().take(16).copied().collect()
    }
}

/// All master key versions this installation can read, which one seals new keys, and the index key.
pub struct Keyring {
    masters: BTreeMap<u32, MasterKey>,
    current: u32,
    index: IndexKey,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.versions())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A new keyring with master version 1 and a fresh index key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut masters = BTreeMap::new();
        masters.insert(
            1,
            MasterKey {
                bytes: Zeroizing::new(random_bytes::<32>()?),
            },
        );
        Ok(Self {
            masters,
            current: 1,
            index: IndexKey {
                bytes: Zeroizing::new(random_bytes::<32>()?),
            },
        })
    }

    /// The version that seals new data keys.
    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Every version held, oldest first.
    pub fn versions(&self) -> Vec<u32> {
        self.masters.keys().copied().collect()
    }

    /// The blind-index key.
    pub fn index_key(&self) -> &IndexKey {
        &self.index
    }

    /// Adds a new master version, makes it current and returns its number.
    pub fn add_version(&mut self) -> Result<u32, CryptoError> {
        let next = self.masters.keys().next_back().copied().unwrap_or(0) + 1;
        self.masters.insert(
            next,
            MasterKey {
                bytes: Zeroizing::new(random_bytes::<32>()?),
            },
        );
        self.current = next;
        Ok(next)
    }

    /// Drops an old version. The caller must first prove no sealed key still uses it.
    pub fn retire_version(&mut self, version: u32) -> Result<(), CryptoError> {
        if version == self.current {
            return Err(CryptoError::KeyFile(
                "the current version cannot be retired".into(),
            ));
        }
        self.masters
            .remove(&version)
            .map(|_| ())
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    /// Seals a data key with the current master version for its owner row.
    pub fn seal_key(
        &self,
        key: &DataKey,
        owner_table: &str,
        owner_row: &str,
    ) -> Result<SealedKey, CryptoError> {
        let master = self.master(self.current)?;
        let aad = Aad::wrapped_key(owner_table, owner_row, self.current);
        Ok(SealedKey {
            master_version: self.current,
            bytes: seal_with(&master.bytes, &aad, key.expose_bytes())?,
        })
    }

    /// Opens a sealed data key; fails if its master version was retired or the owner row differs.
    pub fn open_key(
        &self,
        sealed: &SealedKey,
        owner_table: &str,
        owner_row: &str,
    ) -> Result<DataKey, CryptoError> {
        let master = self.master(sealed.master_version)?;
        let aad = Aad::wrapped_key(owner_table, owner_row, sealed.master_version);
        let plain = open_with(&master.bytes, &aad, &sealed.bytes)?;
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        Ok(DataKey::from_bytes(Zeroizing::new(bytes)))
    }

    fn master(&self, version: u32) -> Result<&MasterKey, CryptoError> {
        self.masters
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    /// The key file text. Contains secrets: the caller writes it with mode 0600 and never logs it.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        use std::fmt::Write as _;
        let mut out = format!(
            "{HEADER}\nindex {}\n",
            STANDARD.encode(self.index.bytes.as_slice())
        );
        for (version, key) in &self.masters {
            let _ = writeln!(
                out,
                "master {version} {}",
                STANDARD.encode(key.bytes.as_slice())
            );
        }
        let _ = writeln!(out, "current {}", self.current);
        Zeroizing::new(out)
    }

    /// Parses key file text. Errors name the line, never its content.
    pub fn from_file_text(text: &str) -> Result<Self, CryptoError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        match lines.next() {
            Some((_, first)) if first.trim() == HEADER => {}
            _ => {
                return Err(CryptoError::KeyFile(format!(
                    "first line must be `{HEADER}`"
                )));
            }
        }
        let mut masters = BTreeMap::new();
        let mut current = None;
        let mut index = None;
        for (number, line) in lines {
            let bad = || CryptoError::KeyFile(format!("line {} is not valid", number + 1));
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["index", b64] => index = Some(decode_key(b64).ok_or_else(bad)?),
                ["master", version, b64] => {
                    let version: u32 = version.parse().map_err(|_| bad())?;
                    masters.insert(
                        version,
                        MasterKey {
                            bytes: decode_key(b64).ok_or_else(bad)?,
                        },
                    );
                }
                ["current", version] => current = Some(version.parse::<u32>().map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
        let index = index.ok_or_else(|| CryptoError::KeyFile("no `index` line".into()))?;
        let current = current.ok_or_else(|| CryptoError::KeyFile("no `current` line".into()))?;
        if !masters.contains_key(&current) {
            return Err(CryptoError::UnknownKeyVersion(current));
        }
        Ok(Self {
            masters,
            current,
            index: IndexKey { bytes: index },
        })
    }
}

fn decode_key(b64: &str) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(STANDARD.decode(b64).ok()?);
    let array: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Zeroizing::new(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_keeps_every_version() {
        let mut ring = Keyring::generate().unwrap();
        let data = DataKey::generate().unwrap();
        let sealed_v1 = ring.seal_key(&data, "contacts", "c1").unwrap();
        ring.add_version().unwrap();
        let text = ring.to_file_text();
        let back = Keyring::from_file_text(&text).unwrap();
        assert_eq!(back.versions(), vec![1, 2]);
        assert_eq!(back.current_version(), 2);
        let opened = back.open_key(&sealed_v1, "contacts", "c1").unwrap();
        let aad = Aad::field("t", "c", "r");
        let sealed = data.seal(&aad, b"x").unwrap();
        assert_eq!(opened.open(&aad, &sealed).unwrap().as_slice(), b"x");
        assert_eq!(
            ring.index_key().blind("wa_id", "4915112345678"),
            back.index_key().blind("wa_id", "4915112345678")
        );
    }

    #[test]
    fn sealed_key_is_bound_to_its_owner_and_version() {
        let ring = Keyring::generate().unwrap();
        let data = DataKey::generate().unwrap();
        let sealed = ring.seal_key(&data, "contacts", "c1").unwrap();
        assert!(ring.open_key(&sealed, "contacts", "c2").is_err());
        let relabelled = SealedKey {
            master_version: 7,
            bytes: sealed.bytes.clone(),
        };
        assert_eq!(
            ring.open_key(&relabelled, "contacts", "c1").err(),
            Some(CryptoError::UnknownKeyVersion(7))
        );
    }

    #[test]
    fn retired_version_no_longer_opens_and_current_cannot_be_retired() {
        let mut ring = Keyring::generate().unwrap();
        let data = DataKey::generate().unwrap();
        let sealed = ring.seal_key(&data, "contacts", "c1").unwrap();
        ring.add_version().unwrap();
        assert!(ring.retire_version(2).is_err());
        ring.retire_version(1).unwrap();
        assert_eq!(
            ring.open_key(&sealed, "contacts", "c1").err(),
            Some(CryptoError::UnknownKeyVersion(1))
        );
    }

    #[test]
    fn blind_index_separates_domains_and_values() {
        let ring = Keyring::generate().unwrap();
        let key = ring.index_key();
        assert_ne!(key.blind("wa_id", "1"), key.blind("user_id", "1"));
        assert_ne!(key.blind("wa_id", "1"), key.blind("wa_id", "2"));
        assert_eq!(key.blind("wa_id", "1").len(), 16);
        let other = Keyring::generate().unwrap();
        assert_ne!(
            key.blind("wa_id", "1"),
            other.index_key().blind("wa_id", "1")
        );
    }

    #[test]
    fn bad_key_files_are_refused_without_echoing_content() {
        for text in [
            "",
            "nope",
            "veil-keyring v1\nindex AAAA\ncurrent 1\n",
            "veil-keyring v1\nmaster x y\n",
        ] {
            let err = Keyring::from_file_text(text).unwrap_err();
            assert!(!err.to_string().contains("AAAA"));
        }
    }

    #[test]
    fn debug_prints_versions_only() {
        let ring = Keyring::generate().unwrap();
        let text = format!("{ring:?}");
        assert!(text.contains("versions: [1]"), "{text}");
    }
}
