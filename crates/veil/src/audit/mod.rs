//! The tamper-evident audit log: every security-relevant action and every read of customer data,
//! appended to an RFC 6962 Merkle tree in the database, with signed checkpoints.
//!
//! `AuditLog::append` is fail-closed: it returns only after the entry is committed, and callers
//! do not act (or do not return data) when it fails. A single writer task takes every entry
//! waiting and commits them in one transaction (group commit), so concurrent requests share one
//! fsync. Several nodes may append to one database: each append moves the head row from the size
//! it built on, and a writer that lost the race reloads the head and builds again.
//!
//! Entries carry ids, never message text, names or phone numbers.

pub mod alerts;
pub mod deliver;
pub mod verify;

/// Rows of the store the audit log hands to its callers.
pub use crate::store::{AuditFilter, AuditRow};

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use veil_crypto::merkle::{self, Frontier, PerfectNodes};
use veil_crypto::{AuditSigningKey, Checkpoint, CheckpointVerifier};

use crate::clock::Clock;
use crate::store::{AuditAppend, CheckpointRow, Store, StoreError};

/// Most entries one transaction commits.
const MAX_GROUP: usize = 4096;
/// Attempts when other nodes keep moving the head.
const MAX_RACES: usize = 20;
/// Longest reason kept (a sentence, not a document).
const MAX_REASON: usize = 300;

/// What can go wrong with the audit log. No variant carries entry content.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit store: {0}")]
    Store(#[from] StoreError),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error("audit key file {0}")]
    Key(String),
    #[error("audit tree: {0}")]
    Tree(#[from] merkle::MerkleError),
    #[error("{0}")]
    Checkpoint(#[from] veil_crypto::CheckpointError),
    #[error("{0}")]
    Invalid(String),
    #[error("other nodes kept appending; try again")]
    Contended,
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed and done (for reads: the data was returned).
    Ok,
    /// Refused: wrong password or code, no permission, locked.
    Denied,
    /// Allowed but it failed.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One thing that happened, before it has a place in the log.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// `user:<id>`, `token:<id>`, `system`, `cli` or `anonymous`.
    pub actor: String,
    pub action: String,
    /// Ids (`conversation:<id>`, `user:<id>`), never content.
    pub target: String,
    pub ip: String,
    pub outcome: Outcome,
    /// Why, where the action asked for a reason.
    pub reason: String,
}

/// Where a request came from: all the audit log needs of a client (identity's `Client`).
/// The log sits below identity, so identity implements these, not the other way round.
pub trait ClientAddress {
    fn address(&self) -> std::net::IpAddr;
}

/// Who acted and from where (identity's `Principal`).
pub trait Actor: ClientAddress {
    /// `user:<id>` or `token:<id>`: ids, never names.
    fn label(&self) -> String;
}

impl AuditEvent {
    /// An event by a signed-in caller.
    pub fn by(principal: &impl Actor, action: &str, target: impl Into<String>) -> Self {
        Self::from_client(&principal.label(), principal, action, target)
    }

    /// An event with an explicit actor label.
    pub fn from_client(
        actor: &str,
        client: &(impl ClientAddress + ?Sized),
        action: &str,
        target: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            ip: client.address().to_string(),
            outcome: Outcome::Ok,
            reason: String::new(),
        }
    }

    /// An event by Veil itself or its command line (no client address).
    pub fn system(actor: &str, action: &str, target: impl Into<String>) -> Self {
        Self {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            ip: String::new(),
            outcome: Outcome::Ok,
            reason: String::new(),
        }
    }

    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    #[must_use]
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.chars().take(MAX_REASON).collect();
        self
    }
}

#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    seq: i64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    ip: &'a str,
    outcome: &'a str,
    reason: &'a str,
}

/// The bytes a leaf hashes: a JSON object with fixed key order, so that anyone holding an
/// exported entry can rebuild them (`veil audit proof` prints them).
pub fn canonical(row: &AuditRow) -> Vec<u8> {
    serde_json::to_vec(&Canonical {
        v: 1,
        seq: row.seq,
        at: row.at,
        actor: &row.actor,
        action: &row.action,
        target: &row.target,
        ip: &row.ip,
        outcome: &row.outcome,
        reason: &row.reason,
    })
    .unwrap_or_default()
}

/// The setting that holds the log's name (the signed-note origin of its checkpoints).
const LOG_NAME_SETTING: &str = "audit.origin";

/// The log's name: the one stored with the log; for a log without one, the name its newest
/// checkpoint was signed under (logs from before the name was stored), else `configured`. It is
/// stored on first use, so a later change of `server.public_url` or `audit.origin` does not rename
/// a log whose checkpoints already carry the name.
async fn log_name(store: &dyn Store, configured: &str, now: i64) -> Result<String, AuditError> {
    if let Some(name) = store.setting(LOG_NAME_SETTING).await? {
        return Ok(name);
    }
    let signed = store
        .latest_checkpoint()
        .await?
        .and_then(|row| row.note.lines().next().map(str::to_owned))
        .filter(|name| !name.is_empty());
    let name = signed.unwrap_or_else(|| configured.to_owned());
    // Another node may store its name first: the stored one wins.
    store
        .swap_setting(LOG_NAME_SETTING, None, &name, now)
        .await?;
    Ok(store.setting(LOG_NAME_SETTING).await?.unwrap_or(name))
}

struct Job {
    events: Vec<AuditEvent>,
    done: oneshot::Sender<Result<i64, AuditError>>,
}

struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    signer: AuditSigningKey,
    origin: String,
    /// Every checkpoint this installation signs is also appended here, outside the database.
    checkpoint_file: Option<PathBuf>,
    stats: GroupStats,
}

/// How appends were grouped, for `veil bench audit`.
#[derive(Debug, Default)]
struct GroupStats {
    groups: std::sync::atomic::AtomicU64,
    entries: std::sync::atomic::AtomicU64,
    /// Time spent in the store's append, summed.
    store_us: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The audit log handle: cheap to clone, shared by every part of Veil that records.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
    jobs: mpsc::Sender<Job>,
}

/// Where the audit log keeps what is not in the database.
#[derive(Debug, Clone)]
pub struct AuditSetup {
    pub origin: String,
    pub key_file: PathBuf,
    pub checkpoint_file: Option<PathBuf>,
}

impl AuditSetup {
    /// Where the configuration says the audit log keeps its key and checkpoint file.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            origin: config.audit.origin.clone(),
            key_file: config.audit.key_file.clone(),
            checkpoint_file: Some(config.audit.checkpoint_file.clone()),
        }
    }
}

impl AuditLog {
    /// Loads (or on first use creates) the signing key, reads the log's name (fixed when the log
    /// was created) and starts the writer task.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        setup: &AuditSetup,
    ) -> Result<Self, AuditError> {
        let signer = load_or_create_key(&setup.key_file)?;
        let origin = log_name(store.as_ref(), &setup.origin, clock.now_ms()).await?;
        let inner = Arc::new(Inner {
            store,
            clock,
            signer,
            origin,
            checkpoint_file: setup.checkpoint_file.clone(),
            stats: GroupStats::default(),
        });
        let (jobs, queue) = mpsc::channel(1024);
        tokio::spawn(writer(inner.clone(), queue));
        Ok(Self { inner, jobs })
    }

    /// Appends one entry; returns its sequence number once it is committed.
    pub async fn record(&self, event: AuditEvent) -> Result<i64, AuditError> {
        self.append(vec![event]).await
    }

    /// Appends entries (consecutive numbers); returns the first number once all are committed.
    pub async fn append(&self, events: Vec<AuditEvent>) -> Result<i64, AuditError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job { events, done })
            .await
            .map_err(|_| AuditError::Stopped)?;
        wait.await.map_err(|_| AuditError::Stopped)?
    }

    /// Groups committed, entries in them, and microseconds spent in the store's append.
    pub fn group_stats(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = &self.inner.stats;
        (
            stats.groups.load(Relaxed),
            stats.entries.load(Relaxed),
            stats.store_us.load(Relaxed),
        )
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The public key checkpoints are signed with (signed-note verifier key text).
    pub fn verifier(&self) -> CheckpointVerifier {
        self.inner.signer.verifier(&self.inner.origin)
    }

    /// Signs the current tree head unless it is already signed; returns the latest checkpoint.
    pub async fn checkpoint(&self) -> Result<CheckpointRow, AuditError> {
        let store = &self.inner.store;
        let (size, frontier) = store.audit_head().await?;
        let size_u =
            u64::try_from(size).map_err(|_| AuditError::Invalid("negative size".into()))?;
        let frontier = Frontier::from_bytes(size_u, &frontier)?;
        if let Some(latest) = store.latest_checkpoint().await?
            && latest.size >= size
        {
            return Ok(latest);
        }
        let note = self.inner.signer.sign(&Checkpoint {
            origin: self.inner.origin.clone(),
            size: size_u,
            root: frontier.root(),
        });
        let at = self.inner.clock.now_ms();
        if store.insert_checkpoint(size, at, &note).await?
            && let Some(path) = &self.inner.checkpoint_file
        {
            append_to_file(path, &note)?;
        }
        store
            .latest_checkpoint()
            .await?
            .ok_or_else(|| AuditError::Invalid("no checkpoint".into()))
    }

    /// An inclusion proof of entry `seq` in the tree of the latest checkpoint (`checkpoint` signs
    /// the current head first, so every committed entry is covered).
    pub async fn proof(&self, seq: i64) -> Result<EntryProof, AuditError> {
        let checkpoint = self.checkpoint().await?;
        let size = u64::try_from(checkpoint.size).unwrap_or(0);
        let index = u64::try_from(seq).map_err(|_| AuditError::Invalid("no such entry".into()))?;
        if index >= size {
            return Err(AuditError::Invalid("no such entry".into()));
        }
        let row = self
            .inner
            .store
            .audit_range(seq, 1)
            .await?
            .into_iter()
            .find(|r| r.seq == seq)
            .ok_or_else(|| AuditError::Invalid("no such entry".into()))?;
        let nodes = self
            .stored_nodes(&merkle::nodes_needed(|r| {
                merkle::inclusion_proof(r, size, index)
            }))
            .await?;
        let proof = merkle::inclusion_proof(&nodes, size, index)?;
        Ok(EntryProof {
            entry: String::from_utf8_lossy(&canonical(&row)).into_owned(),
            index,
            size,
            proof,
            checkpoint: checkpoint.note,
            key: self.verifier().to_text(),
        })
    }

    /// A consistency proof from `old` entries to `new`, from the stored nodes.
    pub async fn consistency(&self, old: u64, new: u64) -> Result<Vec<merkle::Hash>, AuditError> {
        let nodes = self
            .stored_nodes(&merkle::nodes_needed(|r| {
                merkle::consistency_proof(r, old, new)
            }))
            .await?;
        Ok(merkle::consistency_proof(&nodes, old, new)?)
    }

    async fn stored_nodes(&self, wanted: &[(u32, u64)]) -> Result<NodeMap, AuditError> {
        let mut map = NodeMap::default();
        for (level, index, hash) in self.inner.store.audit_nodes(wanted).await? {
            if let (Ok(level), Ok(index), Ok(hash)) = (
                u32::try_from(level),
                u64::try_from(index),
                <[u8; 32]>::try_from(hash.as_slice()),
            ) {
                map.0.insert((level, index), hash);
            }
        }
        Ok(map)
    }
}

#[derive(Default)]
struct NodeMap(std::collections::HashMap<(u32, u64), merkle::Hash>);

impl PerfectNodes for NodeMap {
    fn get(&self, level: u32, index: u64) -> Option<merkle::Hash> {
        self.0.get(&(level, index)).copied()
    }
}

/// What `veil audit proof` prints: enough for a third party to check, with no Veil code.
#[derive(Debug, Clone, Serialize)]
pub struct EntryProof {
    /// The exact bytes of the leaf (leaf hash = SHA-256(0x00 || entry)).
    pub entry: String,
    pub index: u64,
    pub size: u64,
    #[serde(serialize_with = "hashes_base64")]
    pub proof: Vec<merkle::Hash>,
    /// The signed checkpoint whose root the proof leads to.
    pub checkpoint: String,
    /// The verifier key of the checkpoint's signature.
    pub key: String,
}

fn hashes_base64<S: serde::Serializer>(
    hashes: &[merkle::Hash],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    serializer.collect_seq(
        hashes
            .iter()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h)),
    )
}

fn append_to_file(path: &std::path::Path, note: &str) -> Result<(), AuditError> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| AuditError::Key(format!("{}: {e}", path.display())))?;
    file.write_all(format!("{note}\n").as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| AuditError::Key(format!("{}: {e}", path.display())))
}

/// Reads the signing key, creating it (mode 0600) if the file does not exist.
pub fn load_or_create_key(path: &std::path::Path) -> Result<AuditSigningKey, AuditError> {
    if path.exists() {
        crate::keys::check_private(path).map_err(|e| AuditError::Key(e.to_string()))?;
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| AuditError::Key(format!("{}: {e}", path.display())))?,
        );
        return AuditSigningKey::from_file_text(&text)
            .map_err(|e| AuditError::Key(format!("{}: {e}", path.display())));
    }
    let key = AuditSigningKey::generate().map_err(|e| AuditError::Key(e.to_string()))?;
    crate::keys::write_private(path, key.to_file_text().as_bytes())
        .map_err(|e| AuditError::Key(format!("{}: {e}", path.display())))?;
    Ok(key)
}

/// The writer: takes every job waiting, commits them as one group, answers each.
async fn writer(inner: Arc<Inner>, mut queue: mpsc::Receiver<Job>) {
    let mut head: Option<Head> = None;
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut count = jobs.iter().map(|j| j.events.len()).sum::<usize>();
        while count < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let result = commit_group(&inner, &mut head, &jobs).await;
        match result {
            Ok(first_seq) => {
                let mut seq = first_seq;
                for job in jobs {
                    let n = i64::try_from(job.events.len()).unwrap_or(0);
                    let _ = job.done.send(Ok(seq));
                    seq += n;
                }
            }
            Err(err) => {
                head = None;
                tracing::error!(error = %err, entries = count, "audit append failed; the actions are refused");
                for job in jobs {
                    let _ = job.done.send(Err(AuditError::Invalid(
                        "the audit log could not be written".into(),
                    )));
                }
            }
        }
    }
}

/// The tree as the writer last left it, and the time of its last entry.
struct Head {
    frontier: Frontier,
    last_at: i64,
}

async fn load_head(store: &dyn Store) -> Result<Head, AuditError> {
    let (size, bytes) = store.audit_head().await?;
    let last_at = match store.audit_range(size - 1, 1).await?.first() {
        Some(last) if size > 0 => last.at,
        _ => 0,
    };
    let size = u64::try_from(size).map_err(|_| AuditError::Invalid("negative size".into()))?;
    Ok(Head {
        frontier: Frontier::from_bytes(size, &bytes)?,
        last_at,
    })
}

#[allow(
    clippy::too_many_lines,
    reason = "build the group, then append or rebuild"
)]
async fn commit_group(
    inner: &Inner,
    head: &mut Option<Head>,
    jobs: &[Job],
) -> Result<i64, AuditError> {
    for _ in 0..MAX_RACES {
        let Head {
            frontier: base,
            last_at,
        } = match head.take() {
            Some(head) => head,
            None => load_head(inner.store.as_ref()).await?,
        };
        let old_size =
            i64::try_from(base.size()).map_err(|_| AuditError::Invalid("size".into()))?;
        // Times never go back along the log (a clock step, another node's clock), so the
        // search keys, ordered by time, are also in log order.
        let at = inner.clock.now_ms().max(last_at);
        let mut frontier = base;
        let mut rows = Vec::new();
        let mut completed = Vec::new();
        for event in jobs.iter().flat_map(|j| &j.events) {
            let seq =
                i64::try_from(frontier.size()).map_err(|_| AuditError::Invalid("size".into()))?;
            let mut row = AuditRow {
                seq,
                at,
                actor: event.actor.clone(),
                action: event.action.clone(),
                target: event.target.clone(),
                ip: event.ip.clone(),
                outcome: event.outcome.as_str().to_owned(),
                reason: event.reason.clone(),
                leaf_hash: Vec::new(),
            };
            let leaf = merkle::leaf_hash(&canonical(&row));
            row.leaf_hash = leaf.to_vec();
            frontier.push(leaf, &mut completed);
            rows.push(row);
        }
        let nodes: Vec<(i64, i64, Vec<u8>)> = completed
            .iter()
            .filter_map(|n| {
                Some((
                    i64::from(n.level),
                    i64::try_from(n.index).ok()?,
                    n.hash.to_vec(),
                ))
            })
            .collect();
        let frontier_bytes = frontier.to_bytes();
        let new_size =
            i64::try_from(frontier.size()).map_err(|_| AuditError::Invalid("size".into()))?;
        let entries = rows.len() as u64;
        let started = std::time::Instant::now();
        let appended = inner
            .store
            .append_audit(AuditAppend {
                old_size,
                new_size,
                frontier: frontier_bytes,
                rows,
                nodes,
            })
            .await?;
        if appended {
            use std::sync::atomic::Ordering::Relaxed;
            let spent = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            inner.stats.groups.fetch_add(1, Relaxed);
            inner.stats.entries.fetch_add(entries, Relaxed);
            inner.stats.store_us.fetch_add(spent, Relaxed);
            *head = Some(Head {
                frontier,
                last_at: at,
            });
            return Ok(old_size);
        }
        // Another node appended: build again on the head it left.
    }
    Err(AuditError::Contended)
}

impl AuditLog {
    /// Entries matching a filter, newest first.
    pub async fn search_audit(
        &self,
        filter: &crate::store::AuditFilter,
        limit: i64,
    ) -> crate::store::StoreResult<Vec<crate::store::AuditRow>> {
        self.inner.store.search_audit(filter, limit).await
    }

    /// The newest signed checkpoint.
    pub async fn latest_checkpoint(
        &self,
    ) -> crate::store::StoreResult<Option<crate::store::CheckpointRow>> {
        self.inner.store.latest_checkpoint().await
    }

    /// The log's size and root hash.
    pub async fn audit_head(&self) -> crate::store::StoreResult<(i64, Vec<u8>)> {
        self.inner.store.audit_head().await
    }
}
