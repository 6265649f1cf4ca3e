//! Media: sealed files on disk and the job that fetches inbound media from Meta.
//!
//! Files are named by our media row id (a UUID, never a customer-supplied name) and sealed with the
//! contact's data key, bound to that id. The fetch job runs after the message is committed, so a
//! failed fetch never loses the message; it retries with backoff, checks Meta's sha256, and marks
//! media whose id Meta no longer knows as `expired`.

pub mod clamd;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use veil_crypto::{Aad, DataKey};

use crate::clock::Clock;
use crate::keys::{KeyError, Keys};
use crate::store::{MediaRow, Store, StoreError};
use crate::whatsapp::graph::{GraphClient, MediaError};

const MAX_FETCH_ATTEMPTS: i64 = 8;
const FETCH_LEASE_MS: i64 = 120_000;

/// Media failures.
#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    #[error("media file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("media id is not a safe file name")]
    BadId,
}

/// Sealed media files in one directory.
#[derive(Debug, Clone)]
pub struct MediaFiles {
    dir: PathBuf,
}

impl MediaFiles {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn path(&self, media_id: &str) -> Result<PathBuf, MediaStoreError> {
        let safe =
            !media_id.is_empty() && media_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if safe {
            Ok(self.dir.join(media_id))
        } else {
            Err(MediaStoreError::BadId)
        }
    }

    /// Seals and writes `bytes` durably (temp file, fsync, rename).
    pub async fn write(
        &self,
        key: &DataKey,
        media_id: &str,
        bytes: &[u8],
    ) -> Result<(), MediaStoreError> {
        self.write_vec(key, media_id, bytes.to_vec()).await
    }

    /// Like `write`, sealing in the buffer it is given (a large file is held once).
    pub async fn write_vec(
        &self,
        key: &DataKey,
        media_id: &str,
        bytes: Vec<u8>,
    ) -> Result<(), MediaStoreError> {
        let path = self.path(media_id)?;
        let sealed = key
            .seal_vec(&Aad::field("media", "bytes", media_id), bytes)
            .map_err(KeyError::from)?;
        tokio::fs::create_dir_all(&self.dir).await?;
        let tmp = path.with_extension("tmp");
        let mut file = tokio::fs::File::create(&tmp).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &sealed).await?;
        file.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }

    /// Reads and opens a sealed file.
    pub async fn read(
        &self,
        key: &DataKey,
        media_id: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, MediaStoreError> {
        let sealed = tokio::fs::read(self.path(media_id)?).await?;
        Ok(key
            .open_vec(&Aad::field("media", "bytes", media_id), sealed)
            .map_err(KeyError::from)?)
    }
}

/// Whether `bytes` match the sha256 Meta gave (hex in metadata, base64 in webhooks).
/// `None` when the given value is in neither form and so cannot be checked.
pub fn sha256_matches(given: &str, bytes: &[u8]) -> Option<bool> {
    let digest = veil_crypto::sha256(bytes);
    let expected = if given.len() == 64 {
        hex::decode(given).ok()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(given)
            .ok()
            .filter(|d| d.len() == 32)
    }?;
    Some(expected == digest)
}

/// The inbound media fetch job.
#[derive(Debug, Clone)]
pub struct MediaFetcher {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    pub graph: GraphClient,
    pub files: MediaFiles,
    pub max_bytes: usize,
    /// The `ClamAV` socket, when files are also scanned there.
    pub clamd: Option<PathBuf>,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchReport {
    pub stored: u32,
    pub expired: u32,
    pub retried: u32,
    pub failed: u32,
    /// Stored but quarantined by the guard (counted in `stored` too).
    pub quarantined: u32,
}

enum Fetched {
    Stored {
        size: i64,
        mime: Option<String>,
        /// Why the guard quarantined it, if it did.
        quarantine: Option<String>,
    },
    Expired,
    Retry(String),
    Failed(String),
}

impl MediaFetcher {
    /// Fetches every due media item once.
    pub async fn run_once(&self) -> Result<FetchReport, MediaStoreError> {
        let now = self.clock.now_ms();
        let mut report = FetchReport::default();
        for row in self
            .store
            .claim_media(now, now + FETCH_LEASE_MS, 16)
            .await?
        {
            match self.fetch(&row).await {
                Fetched::Stored {
                    size,
                    mime,
                    quarantine,
                } => {
                    let state = if quarantine.is_some() {
                        report.quarantined += 1;
                        "quarantined"
                    } else {
                        "stored"
                    };
                    self.store
                        .media_done(
                            &row.id,
                            state,
                            Some(size),
                            mime.as_deref(),
                            quarantine.as_deref(),
                        )
                        .await?;
                    report.stored += 1;
                }
                Fetched::Expired => {
                    self.store
                        .media_done(
                            &row.id,
                            "expired",
                            None,
                            None,
                            Some("media id expired at Meta"),
                        )
                        .await?;
                    report.expired += 1;
                }
                Fetched::Retry(why) if row.attempts + 1 < MAX_FETCH_ATTEMPTS => {
                    let backoff = 1_000_i64 << row.attempts.clamp(0, 10);
                    self.store
                        .media_retry(&row.id, now + backoff, row.attempts + 1, &why)
                        .await?;
                    report.retried += 1;
                }
                Fetched::Retry(why) | Fetched::Failed(why) => {
                    self.store
                        .media_done(&row.id, "failed", None, None, Some(&why))
                        .await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn fetch(&self, row: &MediaRow) -> Fetched {
        let Some(meta_id) = row.meta_media_id.as_deref() else {
            return Fetched::Failed("no media id".into());
        };
        let info = match self.graph.media_info(meta_id).await {
            Ok(info) => info,
            Err(MediaError::Gone) => return Fetched::Expired,
            Err(MediaError::Retryable(why)) => return Fetched::Retry(why),
            Err(MediaError::Fatal(why)) => return Fetched::Failed(why),
        };
        let bytes = match self.graph.download(&info.url, self.max_bytes).await {
            Ok(bytes) => bytes,
            Err(MediaError::Gone) => return Fetched::Expired,
            Err(MediaError::Retryable(why)) => return Fetched::Retry(why),
            Err(MediaError::Fatal(why)) => return Fetched::Failed(why),
        };
        // Every checkable hash we were given must match; a mismatch is retried (corrupt transfer).
        let checks = [row.sha256.as_deref(), info.sha256.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|given| sha256_matches(given, &bytes));
        if checks.into_iter().any(|ok| !ok) {
            return Fetched::Retry("sha256 mismatch".into());
        }
        let key = match self
            .keys
            .contact_key(self.store.as_ref(), &row.contact_id)
            .await
        {
            Ok(key) => key,
            Err(err) => return Fetched::Failed(err.to_string()),
        };
        let mime = info.mime.or_else(|| row.mime.clone());
        // Judged by the bytes, against WhatsApp's limit for the declared type.
        let limit = mime
            .as_deref()
            .and_then(crate::whatsapp::media_kind::media_kind)
            .map(|(_, limit)| limit);
        let mut quarantine =
            crate::guard::attachments::inspect(&bytes, limit).map(|d| d.as_str().to_owned());
        if quarantine.is_none()
            && let Some(socket) = &self.clamd
        {
            match crate::media::clamd::scan(socket, &bytes).await {
                Ok(None) => {}
                Ok(Some(_signature)) => {
                    quarantine = Some(crate::guard::attachments::Danger::Malware.as_str().into());
                }
                // Never stored unscanned: wait for the scanner.
                Err(err) => return Fetched::Retry(err.to_string()),
            }
        }
        if let Err(err) = self.files.write(&key, &row.id, &bytes).await {
            return Fetched::Retry(err.to_string());
        }
        Fetched::Stored {
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            mime,
            quarantine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_checked_in_hex_and_base64() {
        let bytes = b"hello";
        let digest = veil_crypto::sha256(bytes);
        let hex_form = hex::encode(digest.as_ref());
        let b64_form = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        assert_eq!(sha256_matches(&hex_form, bytes), Some(true));
        assert_eq!(sha256_matches(&b64_form, bytes), Some(true));
        assert_eq!(sha256_matches(&hex_form, b"other"), Some(false));
        assert_eq!(sha256_matches("a1b2c3d4e5f6...", bytes), None);
    }

    #[test]
    fn file_names_are_only_our_ids() {
        let files = MediaFiles::new(Path::new("/tmp/x"));
        assert!(files.path("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").is_ok());
        for bad in ["", "../etc/passwd", "a/b", "x.y"] {
            assert!(files.path(bad).is_err(), "{bad}");
        }
    }
}
