//! Inbound ingest: turns parsed webhook items into sealed rows and commits them with group commit.
//!
//! One writer task owns the write path. Webhook handlers hand it their items and wait; the writer
//! takes every job that is waiting, writes them all in one transaction (one fsync), then answers
//! each. Under load many webhooks share a commit; when idle a single webhook commits alone at once.
//! A handler answers 200 only after its reply says committed. If a group fails, its jobs are
//! retried one by one so that one bad payload cannot fail its neighbours.
//!
//! Never logs a payload, name or number.

mod contacts;
mod messages;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use veil_crypto::{Aad, DataKey};

use crate::clock::Clock;
use crate::keys::{KeyError, Keys};
use crate::store::{ChannelRow, IngestOutcome, IngestWrite, NewEvent, Store, StoreError};
use crate::whatsapp::webhook::WebhookItem;

/// Most webhooks one transaction takes.
const MAX_GROUP: usize = 512;

/// How long a webhook may wait for others to share its commit, when nothing is committing and
/// webhooks arrive at least every `GATHER_BUSY_GAP`. At a steady 1,000/s most webhooks otherwise
/// commit alone, and a commit (WAL frames for every page it dirtied, one fsync) is most of a
/// webhook's cost. Tokio's timer rounds up to the next millisecond, so the wait is 1–2 ms.
const GATHER_WINDOW: Duration = Duration::from_millis(1);

/// Webhooks closer together than this on average (500/s and more) make waiting worthwhile.
const GATHER_BUSY_GAP: Duration = Duration::from_millis(2);

/// A group this large commits at once.
const GATHER_ENOUGH: usize = 16;

/// After this many waits in a row that gathered nobody (the senders wait for our answers, as a
/// few connections at full speed do), the writer stops waiting for `GATHER_PAUSE` groups.
const GATHER_FRUITLESS: u32 = 2;
const GATHER_PAUSE: u32 = 64;

/// Contacts whose keys stay unsealed in memory; past this the cache starts over.
const CONTACT_CACHE_LIMIT: usize = 50_000;

/// Why ingest failed. The webhook is then answered 500 and Meta redelivers it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("content could not be encoded")]
    Encode,
    #[error("the ingest writer has stopped")]
    Stopped,
}

struct Job {
    items: Vec<WebhookItem>,
    reply: oneshot::Sender<Result<IngestOutcome, IngestError>>,
}

/// Handle to the writer task.
#[derive(Debug, Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<Job>,
}

/// What the writer needs.
#[derive(Debug, Clone)]
pub struct IngestDeps {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    /// Channel for payloads without `metadata.phone_number_id`.
    pub default_channel: ChannelRow,
    /// Screens text and captions before they are sealed.
    pub guard: Arc<crate::guard::Guard>,
}

impl Ingestor {
    /// Starts the writer task.
    pub fn start(deps: IngestDeps) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run_writer(Writer::new(deps), rx));
        Self { tx }
    }

    /// Hands items to the writer and waits until they are durably committed.
    pub async fn submit(&self, items: Vec<WebhookItem>) -> Result<IngestOutcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { items, reply })
            .await
            .map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

/// A group's transaction, polled by the writer task itself (a task of its own cost a spawn and a
/// wake-up per group, which at light traffic is per webhook).
type Commit = Pin<Box<dyn Future<Output = Result<IngestOutcome, StoreError>> + Send>>;

/// A group whose transaction is running.
type InFlight = (Vec<Job>, Commit);

enum Next {
    Committed(Result<IngestOutcome, StoreError>),
    Job(Option<Job>),
}

/// Starts a group's transaction. A panic in it fails the group as an error would.
fn commit(store: Arc<dyn Store>, write: IngestWrite) -> Commit {
    Box::pin(async move {
        AssertUnwindSafe(store.apply_ingest(write))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(StoreError::Writer("ingest transaction panicked".into())))
    })
}

/// Gaps are counted up to this, so that the average comes down within a few dozen webhooks
/// after a quiet spell.
const QUIET_GAP: Duration = Duration::from_millis(20);

/// When webhooks arrive, to decide whether one should wait for company (`GATHER_WINDOW`).
struct Arrivals {
    last: Option<Instant>,
    /// Moving average of the time between two webhooks.
    gap: Duration,
    fruitless: u32,
    paused: u32,
}

impl Arrivals {
    fn new() -> Self {
        Self {
            last: None,
            gap: QUIET_GAP,
            fruitless: 0,
            paused: 0,
        }
    }

    fn note(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let gap = now.saturating_duration_since(last).min(QUIET_GAP);
            self.gap = (self.gap * 7 + gap) / 8;
        }
        self.last = Some(now);
    }

    /// Whether a group of `size` should wait for more.
    fn should_wait(&mut self, size: usize) -> bool {
        if self.paused > 0 {
            self.paused -= 1;
            return false;
        }
        size < GATHER_ENOUGH && self.gap < GATHER_BUSY_GAP
    }

    fn waited(&mut self, gathered: usize) {
        if gathered > 0 {
            self.fruitless = 0;
            return;
        }
        self.fruitless += 1;
        if self.fruitless >= GATHER_FRUITLESS {
            self.fruitless = 0;
            self.paused = GATHER_PAUSE;
        }
    }
}

/// Takes every job already waiting, up to `MAX_GROUP`.
fn drain(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, arrivals: &mut Arrivals) {
    while jobs.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => {
                arrivals.note(Instant::now());
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
}

/// Waits until `deadline` for more jobs, while the group is smaller than `GATHER_ENOUGH`.
async fn gather(
    rx: &mut mpsc::Receiver<Job>,
    jobs: &mut Vec<Job>,
    arrivals: &mut Arrivals,
    deadline: Instant,
) {
    let before = jobs.len();
    let deadline = tokio::time::Instant::from_std(deadline);
    while jobs.len() < GATHER_ENOUGH {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(job)) => {
                arrivals.note(Instant::now());
                jobs.push(job);
                drain(rx, jobs, arrivals);
            }
            // Closed: the loop sees it at its next `recv`.
            Ok(None) | Err(_) => break,
        }
    }
    arrivals.waited(jobs.len() - before);
}

/// The writer loop, pipelined one deep: while group N's transaction commits, group N+1 is
/// gathered and sealed. Transactions still run one at a time and in order. When nothing is
/// committing and webhooks come often, a small group waits up to `GATHER_WINDOW` for more.
async fn run_writer(mut writer: Writer, mut rx: mpsc::Receiver<Job>) {
    let mut inflight: Option<InFlight> = None;
    let mut arrivals = Arrivals::new();
    loop {
        let next = match inflight.as_mut() {
            Some((_, running)) => tokio::select! {
                biased;
                done = running => Next::Committed(done),
                job = rx.recv() => Next::Job(job),
            },
            None => Next::Job(rx.recv().await),
        };
        match next {
            Next::Committed(result) => {
                if let Some((jobs, _)) = inflight.take() {
                    writer.finish(jobs, result).await;
                }
            }
            Next::Job(None) => {
                if let Some((jobs, running)) = inflight.take() {
                    writer.finish(jobs, running.await).await;
                }
                return;
            }
            Next::Job(Some(first)) => {
                let start = Instant::now();
                arrivals.note(start);
                let mut jobs = vec![first];
                drain(&mut rx, &mut jobs, &mut arrivals);
                if inflight.is_none() && arrivals.should_wait(jobs.len()) {
                    gather(&mut rx, &mut jobs, &mut arrivals, start + GATHER_WINDOW).await;
                }
                let all: Vec<&[WebhookItem]> = jobs.iter().map(|j| j.items.as_slice()).collect();
                // Group N+1 is sealed while group N's transaction runs.
                let (prepared, previous) = match inflight.take() {
                    Some((previous, running)) => {
                        let (prepared, done) = tokio::join!(writer.prepare(&all), running);
                        (prepared, Some((previous, done)))
                    }
                    None => (writer.prepare(&all).await, None),
                };
                let previous_ok = match previous {
                    Some((previous, done)) => writer.finish(previous, done).await,
                    None => true,
                };
                match prepared {
                    Ok(write) if previous_ok => {
                        inflight = Some((jobs, commit(writer.deps.store.clone(), write)));
                    }
                    // The previous group failed (the cache may hold what it created) or sealing
                    // failed: write this group afresh, one job at a time if need be.
                    _ => writer.write_with_fallback(jobs).await,
                }
            }
        }
    }
}

struct CachedContact {
    id: String,
    key_id: String,
    conversation_id: String,
    key: DataKey,
    has_wa: AtomicBool,
    has_user: AtomicBool,
    /// Hash of the profile name last written (0: not known), so an unchanged name is not rewritten.
    name_hash: AtomicU64,
}

struct Writer {
    deps: IngestDeps,
    contacts: HashMap<Vec<u8>, Arc<CachedContact>>,
    channels: HashMap<String, String>,
    /// Blind indexes the current group's prefetch found in no contact: no need to ask again.
    absent: HashSet<Vec<u8>>,
}

/// The blind indexes of a customer reference.
struct Blinds {
    wa: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
}

impl Writer {
    fn new(deps: IngestDeps) -> Self {
        Self {
            deps,
            contacts: HashMap::new(),
            channels: HashMap::new(),
            absent: HashSet::new(),
        }
    }

    /// Writes a group; if a cached contact key turned out stale (shredded or replaced by another
    /// process), forgets the cache and tries once more with keys read afresh.
    async fn write_group(&mut self, jobs: &[&[WebhookItem]]) -> Result<IngestOutcome, IngestError> {
        match self.try_write_group(jobs).await {
            Err(IngestError::Store(StoreError::StaleContactKey(_))) => {
                self.contacts.clear();
                self.try_write_group(jobs).await
            }
            other => other,
        }
    }

    async fn try_write_group(
        &mut self,
        jobs: &[&[WebhookItem]],
    ) -> Result<IngestOutcome, IngestError> {
        let write = self.prepare(jobs).await?;
        let result = self.deps.store.apply_ingest(write).await;
        if result.is_err() {
            // Nothing of this group was committed: forget what the cache learnt from it.
            self.contacts.clear();
        }
        Ok(result?)
    }

    async fn build_write(&mut self, jobs: &[&[WebhookItem]]) -> Result<IngestWrite, IngestError> {
        let now = self.deps.clock.now_ms();
        let items: Vec<&WebhookItem> = jobs.iter().flat_map(|items| items.iter()).collect();
        // Each sender's blind indexes, computed once for the prefetch and the rows.
        let senders: Vec<Option<Blinds>> = items
            .iter()
            .map(|item| match item {
                WebhookItem::Message(message) => Some(self.blinds(&message.customer)),
                _ => None,
            })
            .collect();
        self.prefetch_contacts(senders.iter().flatten()).await?;
        let mut write = IngestWrite::default();
        // This month's slice of the installation key seals the group's statuses and events.
        let (slice, slice_key) = self.deps.keys.slice(self.deps.store.as_ref(), now).await?;
        for (item, sender) in items.into_iter().zip(&senders) {
            match (item, sender) {
                (WebhookItem::Message(message), Some(blinds)) => {
                    self.add_message(message, blinds, now, &mut write).await?;
                }
                (WebhookItem::Message(_), None) => {}
                (WebhookItem::Status(status), _) => {
                    write
                        .statuses
                        .push(self.status_row(status, now, (&slice, &slice_key))?);
                }
                (WebhookItem::Event { field, raw }, _) => {
                    let id = Uuid::now_v7().to_string();
                    let raw_ct = slice_key.seal(&Aad::field("events", "raw", &id), raw)?;
                    let digest = self.deps.keys.blind(
                        "event",
                        &format!("{field}\u{0}{}", String::from_utf8_lossy(raw)),
                    );
                    write.events.push(NewEvent {
                        id,
                        field: field.clone(),
                        digest,
                        raw_ct,
                        received_at: now,
                        key_name: slice.clone(),
                    });
                }
            }
        }
        Ok(write)
    }

    /// Seals a group into rows without writing them. On error the cache is cleared.
    async fn prepare(&mut self, jobs: &[&[WebhookItem]]) -> Result<IngestWrite, IngestError> {
        let result = self.build_write(jobs).await;
        if result.is_err() {
            self.contacts.clear();
        }
        result
    }

    /// Answers the jobs of a committed (or failed) group. Returns whether it committed.
    async fn finish(&mut self, jobs: Vec<Job>, result: Result<IngestOutcome, StoreError>) -> bool {
        match result {
            Ok(outcome) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(outcome));
                }
                true
            }
            _ => {
                self.contacts.clear();
                self.write_with_fallback(jobs).await;
                false
            }
        }
    }

    /// Writes a group in one transaction; if that fails, each job alone, so one bad payload
    /// cannot fail its neighbours.
    async fn write_with_fallback(&mut self, jobs: Vec<Job>) {
        let all: Vec<&[WebhookItem]> = jobs.iter().map(|j| j.items.as_slice()).collect();
        match self.write_group(&all).await {
            Ok(outcome) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(group_error) => {
                tracing::warn!(error = %group_error, jobs = jobs.len(), "ingest group failed; retrying jobs one by one");
                for job in jobs {
                    let result = self.write_group(&[job.items.as_slice()]).await;
                    if let Err(err) = &result {
                        tracing::error!(error = %err, "webhook could not be stored; answering 500 so Meta redelivers");
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

impl IngestError {
    fn from_crypto(e: veil_crypto::CryptoError) -> Self {
        Self::Keys(KeyError::Crypto(e))
    }
}

impl From<veil_crypto::CryptoError> for IngestError {
    fn from(e: veil_crypto::CryptoError) -> Self {
        Self::from_crypto(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(arrivals: &mut Arrivals, start: Instant, every: Duration, count: u32) -> Instant {
        let mut at = start;
        for _ in 0..count {
            at += every;
            arrivals.note(at);
        }
        at
    }

    #[test]
    fn webhooks_wait_for_company_only_when_others_come_often() {
        let start = Instant::now();
        let mut idle = Arrivals::new();
        assert!(
            !idle.should_wait(1),
            "the first webhook after a quiet spell commits at once"
        );
        steady(&mut idle, start, Duration::from_millis(10), 50);
        assert!(
            !idle.should_wait(1),
            "at 100/s a webhook commits alone, without waiting"
        );

        let mut busy = Arrivals::new();
        steady(&mut busy, start, Duration::from_millis(1), 50);
        assert!(busy.should_wait(1), "at 1,000/s a lone webhook waits");
        assert!(
            !busy.should_wait(GATHER_ENOUGH),
            "a group that is large enough commits"
        );
    }

    #[test]
    fn waits_that_gather_nobody_stop_for_a_while() {
        let start = Instant::now();
        let mut arrivals = Arrivals::new();
        steady(&mut arrivals, start, Duration::from_micros(100), 50);
        assert!(arrivals.should_wait(4));
        arrivals.waited(1);
        assert!(
            arrivals.should_wait(4),
            "a wait that gathered someone is kept"
        );
        arrivals.waited(0);
        assert!(
            arrivals.should_wait(4),
            "one empty wait is not enough to stop"
        );
        arrivals.waited(0);
        for _ in 0..GATHER_PAUSE {
            assert!(
                !arrivals.should_wait(4),
                "paused after empty waits in a row"
            );
        }
        assert!(arrivals.should_wait(4), "and tried again after the pause");
    }
}
