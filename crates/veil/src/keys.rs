//! Where keys live at run time: the keyring file (outside the database, mode 0600), the sealed
//! per-contact data keys in the database, and the installation's own data key for raw status and
//! event payloads.
//!
//! Rotation is online: `veil keys rotate` writes a new master version to the key file first, then
//! re-seals every data key under it. A running server that meets a version it does not hold
//! reloads the key file once, so it keeps reading while another process rotates. Never logs key
//! material.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use veil_crypto::{CryptoError, DataKey, Keyring, SealedKey};

use crate::store::{SealedKeyRow, Store, StoreError};

/// Key-handling failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key file {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("this contact's data key was deleted")]
    Shredded,
    #[error("master key version {0} still seals {1} keys; run `veil keys rotate` first")]
    StillInUse(i64, i64),
}

/// The name of the installation key row that seals raw statuses and events.
const SYSTEM_KEY: &str = "system";

/// Writes a file only its owner can read (0600), durably: keys, links, demo credentials.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Refuses a key file that others can read.
pub fn check_private(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let file_err = |problem: String| KeyError::File {
            path: path.to_owned(),
            problem,
        };
        let mode = std::fs::metadata(path)
            .map_err(|e| file_err(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(file_err(format!(
                "mode {:o} lets others read it; chmod 600",
                mode & 0o777
            )));
        }
    }
    Ok(())
}

/// Reads the key file, refusing one that others can read.
pub fn read_keyring(path: &Path) -> Result<Keyring, KeyError> {
    let file_err = |problem: String| KeyError::File {
        path: path.to_owned(),
        problem,
    };
    check_private(path)?;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?,
    );
    Ok(Keyring::from_file_text(&text)?)
}

/// Writes the key file atomically with mode 0600 (temp file, fsync, rename).
pub fn write_keyring(path: &Path, keyring: &Keyring) -> Result<(), KeyError> {
    let file_err = |e: std::io::Error| KeyError::File {
        path: path.to_owned(),
        problem: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_err)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(file_err)?;
    file.write_all(keyring.to_file_text().as_bytes())
        .map_err(file_err)?;
    file.sync_all().map_err(file_err)?;
    std::fs::rename(&tmp, path).map_err(file_err)?;
    Ok(())
}

/// Creates a key file if none exists (`veil keys init`, and `veil demo` on first start).
/// Returns whether a new one was written.
pub fn init_keyring(path: &Path) -> Result<bool, KeyError> {
    if path.exists() {
        return Ok(false);
    }
    write_keyring(path, &Keyring::generate()?)?;
    Ok(true)
}

/// The keys a running Veil uses. Cheap to share.
#[derive(Debug, Clone)]
pub struct Keys {
    inner: Arc<KeysInner>,
}

#[derive(Debug)]
struct KeysInner {
    path: PathBuf,
    keyring: RwLock<Keyring>,
    /// Modification time of the key file when it was last read: a cheap "did it change?".
    read_at: Mutex<Option<SystemTime>>,
    system: DataKey,
    /// Opened slices of the installation key, by name (`system:YYYY-MM`).
    slices: Mutex<std::collections::HashMap<String, Arc<DataKey>>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn to_sealed(row: &SealedKeyRow) -> Result<SealedKey, KeyError> {
    let version = u32::try_from(row.master_version).map_err(|_| CryptoError::Malformed)?;
    Ok(SealedKey {
        master_version: version,
        bytes: row.sealed_key.clone(),
    })
}

fn to_row(sealed: SealedKey) -> SealedKeyRow {
    SealedKeyRow {
        master_version: i64::from(sealed.master_version),
        sealed_key: sealed.bytes,
    }
}

impl Keys {
    /// Loads the keyring from `path` and the installation key from the store (creating it once).
    pub async fn load(path: &Path, store: &dyn Store) -> Result<Self, KeyError> {
        let keyring = read_keyring(path)?;
        let fresh = DataKey::generate()?;
        let fresh_row = to_row(keyring.seal_key(&fresh, "installation_keys", SYSTEM_KEY)?);
        let read_at = modified(path);
        let stored = store.installation_key(SYSTEM_KEY, &fresh_row).await?;
        let system = keyring.open_key(&to_sealed(&stored)?, "installation_keys", SYSTEM_KEY)?;
        Ok(Self {
            inner: Arc::new(KeysInner {
                path: path.to_owned(),
                keyring: RwLock::new(keyring),
                read_at: Mutex::new(read_at),
                system,
                slices: Mutex::new(std::collections::HashMap::new()),
            }),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        self.inner
            .keyring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The blind index of an identifier.
    pub fn blind(&self, domain: &str, value: &str) -> Vec<u8> {
        self.read().index_key().blind(domain, value)
    }

    /// The installation's own first data key (TOTP secrets; raw statuses and events from before
    /// slices).
    pub fn system(&self) -> &DataKey {
        &self.inner.system
    }

    /// The slice of the installation key that seals raw statuses and events at `now_ms`: one key
    /// per calendar month (UTC), created on first use (every node gets the same one) and sealed
    /// by the master key like the others. With random 96-bit nonces a key must seal fewer than
    /// 2^32 values (NIST SP 800-38D); a month of statuses is far fewer.
    pub async fn slice(
        &self,
        store: &dyn Store,
        now_ms: i64,
    ) -> Result<(String, Arc<DataKey>), KeyError> {
        let name = slice_name(now_ms);
        if let Some(key) = self.lock_slices().get(&name) {
            return Ok((name, key.clone()));
        }
        let key = Arc::new(self.slice_key(store, &name).await?);
        self.lock_slices().insert(name.clone(), key.clone());
        Ok((name, key))
    }

    /// The installation key slice `name` (created when missing).
    pub async fn slice_key(&self, store: &dyn Store, name: &str) -> Result<DataKey, KeyError> {
        self.reload_if_changed();
        let fresh = to_row(self.read().seal_key(
            &DataKey::generate()?,
            "installation_keys",
            name,
        )?);
        let stored = store.installation_key(name, &fresh).await?;
        self.open_sealed(&stored, "installation_keys", name)
    }

    fn lock_slices(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<DataKey>>> {
        self.inner
            .slices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new data key for a contact, and its sealed form to store.
    pub fn new_contact_key(&self, contact_id: &str) -> Result<(DataKey, SealedKeyRow), KeyError> {
        self.reload_if_changed();
        let key = DataKey::generate()?;
        let sealed = self.read().seal_key(&key, "contacts", contact_id)?;
        Ok((key, to_row(sealed)))
    }

    /// Opens a contact's sealed data key.
    pub fn open_contact_key(
        &self,
        row: &SealedKeyRow,
        contact_id: &str,
    ) -> Result<DataKey, KeyError> {
        self.open_sealed(row, "contacts", contact_id)
    }

    /// Loads and opens a contact's key from the store.
    pub async fn contact_key(
        &self,
        store: &dyn Store,
        contact_id: &str,
    ) -> Result<DataKey, KeyError> {
        let row = store
            .contact_key(contact_id)
            .await?
            .ok_or(KeyError::Shredded)?;
        self.open_contact_key(&row, contact_id)
    }

    fn open_sealed(
        &self,
        row: &SealedKeyRow,
        table: &str,
        owner: &str,
    ) -> Result<DataKey, KeyError> {
        let sealed = to_sealed(row)?;
        match self.read().open_key(&sealed, table, owner) {
            Err(CryptoError::UnknownKeyVersion(_)) => {}
            other => return Ok(other?),
        }
        // Another process may have rotated: read the key file again, then retry once.
        self.reload()?;
        Ok(self.read().open_key(&sealed, table, owner)?)
    }

    fn reload(&self) -> Result<(), KeyError> {
        let read_at = modified(&self.inner.path);
        let fresh = read_keyring(&self.inner.path)?;
        *self
            .inner
            .keyring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        *self
            .inner
            .read_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = read_at;
        Ok(())
    }

    /// Rereads the key file if it changed since it was read (another process rotated). A failed
    /// reread keeps the keys in memory; they still open everything they opened before.
    fn reload_if_changed(&self) {
        let changed = modified(&self.inner.path)
            != *self
                .inner
                .read_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        if changed {
            let _ = self.reload();
        }
    }

    /// The master version that seals new keys.
    pub fn current_version(&self) -> u32 {
        self.read().current_version()
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationReport {
    pub new_version: u32,
    pub resealed: u64,
}

/// Adds a master version (written to the key file first), then re-seals every data key under it
/// in batches. Safe to run while Veil serves; safe to run again after an interruption.
pub async fn rotate(path: &Path, store: &dyn Store) -> Result<RotationReport, KeyError> {
    let mut keyring = read_keyring(path)?;
    let new_version = keyring.add_version()?;
    write_keyring(path, &keyring)?;
    let resealed = reseal_all(&keyring, store).await?;
    Ok(RotationReport {
        new_version,
        resealed,
    })
}

/// Re-seals every key not under the keyring's current version.
pub async fn reseal_all(keyring: &Keyring, store: &dyn Store) -> Result<u64, KeyError> {
    let current = i64::from(keyring.current_version());
    let mut resealed = 0;
    loop {
        let batch = store.keys_to_rewrap(current, 500).await?;
        if batch.is_empty() {
            return Ok(resealed);
        }
        for owner in batch {
            let row = SealedKeyRow {
                master_version: owner.master_version,
                sealed_key: owner.sealed_key.clone(),
            };
            let key = keyring.open_key(&to_sealed(&row)?, &owner.owner_table, &owner.owner_id)?;
            let fresh = to_row(keyring.seal_key(&key, &owner.owner_table, &owner.owner_id)?);
            if store.rewrap_key(&owner, &fresh).await? {
                resealed += 1;
            }
        }
    }
}

/// Drops a master version from the key file once no sealed key uses it.
pub async fn retire(path: &Path, store: &dyn Store, version: u32) -> Result<(), KeyError> {
    let in_use = store.key_versions_in_use().await?;
    if let Some((v, count)) = in_use.iter().find(|(v, _)| *v == i64::from(version)) {
        return Err(KeyError::StillInUse(*v, *count));
    }
    let mut keyring = read_keyring(path)?;
    keyring.retire_version(version)?;
    write_keyring(path, &keyring)
}

/// The slice name of a time: `system:YYYY-MM` (UTC).
fn slice_name(now_ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{SYSTEM_KEY}:{:04}-{:02}", at.year(), u8::from(at.month()))
}
