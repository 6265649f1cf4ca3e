//! The simulator's memory: accepted messages, media, customers' last inbound time, limits, faults.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::SimConfig;
use crate::limits::Bucket;

/// Faults to inject into Graph API calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Probability of a 500 with code 131000 instead of accepting a send.
    pub error_rate: f64,
    /// The next this-many sends are refused with 429 / 130429.
    pub burst_429: u32,
    /// Added latency per Graph API call, in milliseconds.
    pub latency_ms: u64,
    /// Probability that a send is accepted and its response then dropped (connection cut).
    pub drop_after_accept_rate: f64,
    /// The next this-many sends are refused with a non-retryable error of this code (e.g. 131026).
    pub fail_next_with: Option<(u32, i64)>,
}

/// One message the simulator accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    pub wamid: String,
    pub to: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub biz_opaque_callback_data: Option<String>,
    pub response_dropped: bool,
}

pub struct Media {
    pub bytes: Vec<u8>,
    pub mime: String,
    pub sha256: String,
    pub expired: bool,
}

pub struct Inner {
    pub rng: StdRng,
    pub sent: Vec<SentMessage>,
    pub media: HashMap<String, Media>,
    pub last_inbound: HashMap<String, u64>,
    pub faults: Faults,
    pub throughput: Bucket,
    pub pairs: HashMap<String, Bucket>,
}

/// One webhook body waiting to be delivered.
pub struct Outgoing {
    pub body: Vec<u8>,
}

pub struct SimState {
    pub config: SimConfig,
    pub url: String,
    pub inner: Mutex<Inner>,
    pub webhook_tx: mpsc::UnboundedSender<Outgoing>,
    pub webhook_rx: Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
    pub pending: AtomicUsize,
}

impl SimState {
    pub fn new(config: SimConfig, url: String) -> Self {
        let (webhook_tx, webhook_rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let throughput = f64::from(config.throughput_per_sec.max(1));
        let inner = Inner {
            rng: StdRng::seed_from_u64(config.seed),
            sent: Vec::new(),
            media: HashMap::new(),
            last_inbound: HashMap::new(),
            faults: config.faults.clone(),
            throughput: Bucket::new(throughput, throughput, now),
            pairs: HashMap::new(),
        };
        Self {
            config,
            url,
            inner: Mutex::new(inner),
            webhook_tx,
            webhook_rx: Mutex::new(Some(webhook_rx)),
            pending: AtomicUsize::new(0),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another request panicked; the data is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn pending_webhooks(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    pub fn queue_webhook(&self, body: Vec<u8>) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.webhook_tx.send(Outgoing { body }).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub fn new_wamid(&self) -> String {
        let mut inner = self.lock();
        let a: u64 = inner.rng.random();
        let b: u64 = inner.rng.random();
        format!("wamid.HBgL{a:016X}{b:016X}")
    }

    pub fn pair_bucket_take(&self, to: &str) -> bool {
        let now = Instant::now();
        let burst = f64::from(self.config.pair_burst.max(1));
        #[allow(
            clippy::cast_precision_loss,
            reason = "a refill interval in ms fits an f64 exactly"
        )]
        let per_sec = 1000.0 / self.config.pair_refill_ms.max(1) as f64;
        let mut inner = self.lock();
        inner
            .pairs
            .entry(to.to_owned())
            .or_insert_with(|| Bucket::new(burst, per_sec, now))
            .try_take(now)
    }
}

/// Unix seconds, as Meta's webhook `timestamp` strings carry them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
