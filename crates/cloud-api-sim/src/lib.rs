//! A local stand-in for Meta's WhatsApp Cloud API.
//!
//! It serves a Graph API subset (send, mark-as-read, media upload / metadata / download / delete)
//! with Meta-shaped success and error bodies, enforces the 24-hour window (131047), per-number
//! throughput (130429) and the pair rate (131056), and emits signed webhooks (inbound messages of
//! every type, statuses sent → delivered → read) with the escaping Meta uses. Faults are injected
//! by configuration or at run time through `POST /_sim/faults`.
//!
//! This crate shares no types with Veil and never depends on it: a misreading of Meta's docs
//! should not be baked into both sides of every test.

#![allow(
    clippy::disallowed_methods,
    reason = "the simulator stands in for Meta's wall clock and timers; Veil's Clock rule does not apply here"
)]

mod escape;
mod graph;
mod inbound;
mod limits;
mod state;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use tokio::net::TcpListener;

pub use escape::to_meta_json;
pub use state::{Faults, SentMessage};

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Secret used to sign webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The bearer token the Graph API accepts.
    pub access_token: String,
    /// The business phone number id the simulator serves.
    pub phone_number_id: String,
    /// Its display number.
    pub display_phone_number: String,
    /// The WhatsApp Business Account id put in webhook envelopes.
    pub waba_id: String,
    /// Where webhooks go; `None` keeps them in memory only.
    pub webhook_url: Option<String>,
    /// Per-number throughput in messages per second (130429 above it).
    pub throughput_per_sec: u32,
    /// Pair rate: this many messages to one recipient in a burst, refilling one per `pair_refill_ms`.
    pub pair_burst: u32,
    /// Pair-rate refill interval.
    pub pair_refill_ms: u64,
    /// Whether free-form messages outside the 24-hour window fail with 131047.
    pub enforce_window: bool,
    /// Delay between the status steps sent → delivered → read.
    pub status_step_ms: u64,
    /// Whether recipients "read" messages (emits `read` statuses).
    pub emit_read: bool,
    /// Probability that a status webhook is delivered twice.
    pub duplicate_rate: f64,
    /// Probability that delivered/read are emitted in swapped order.
    pub reorder_rate: f64,
    /// Faults at start.
    pub faults: Faults,
    /// Seed for every random choice, so a run can be repeated.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            app_secret: "sim-app-secret".into(),
            access_token: "sim-access-token".into(),
            phone_number_id: "100000000000001".into(),
            display_phone_number: "15550001234".into(),
            waba_id: "200000000000002".into(),
            webhook_url: None,
            throughput_per_sec: 80,
            pair_burst: 6,
            pair_refill_ms: 6_000,
            enforce_window: true,
            status_step_ms: 50,
            emit_read: true,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            faults: Faults::default(),
            seed: 7,
        }
    }
}

/// A running simulator.
pub struct SimHandle {
    /// Base URL, e.g. `http://127.0.0.1:40123`. The Graph API lives under `{url}/v23.0/...`.
    pub url: String,
    state: Arc<state::SimState>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// Messages the simulator accepted, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state.sent()
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// Emits one inbound message of `kind` from `from` and returns its wamid.
    pub fn customer_writes(&self, message: &InboundSpec) -> Result<String, SimError> {
        inbound::emit(&self.state, message)
    }

    /// Webhook deliveries still queued or retrying.
    pub fn pending_webhooks(&self) -> usize {
        self.state.pending_webhooks()
    }

    /// Stops the server.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// What a simulated customer sends. `kind` is a Cloud API message type.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundSpec {
    /// Customer's number (digits).
    pub from: String,
    /// Profile name.
    pub name: String,
    /// `text`, `image`, `document`, `audio`, `video`, `sticker`, `location`, `contacts`,
    /// `reaction`, `interactive`, `button`, `order`, `system`, `unsupported`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Text body, caption, reaction emoji or button title depending on `kind`.
    #[serde(default)]
    pub text: String,
    /// Message this one replies or reacts to.
    #[serde(default)]
    pub context_wamid: Option<String>,
    /// Make the media id already expired (for `image` and other media kinds).
    #[serde(default)]
    pub expired_media: bool,
    /// The file a `document` carries instead of the built-in small PDF.
    #[serde(default)]
    pub file: Option<InboundFile>,
}

/// A file a simulated customer sends as a document.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundFile {
    pub mime: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

fn default_kind() -> String {
    "text".into()
}

/// Errors of the simulator's own API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The request made no sense.
    #[error("invalid: {0}")]
    Invalid(String),
}

/// Command-line options shared by the `cloud-api-sim` binary and `veil sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// App secret used to sign webhooks.
    #[arg(long, default_value = "sim-app-secret")]
    pub app_secret: String,
    /// Bearer token the simulated Graph API accepts.
    #[arg(long, default_value = "sim-access-token")]
    pub access_token: String,
    /// Where the simulator POSTs webhooks.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Phone number id the simulator serves.
    #[arg(long, default_value = "100000000000001")]
    pub phone_number_id: String,
    #[command(flatten)]
    pub faults: FaultFlags,
}

impl SimArgs {
    /// The configuration these options describe, and the address to listen on.
    pub fn into_config(self) -> (SimConfig, SocketAddr) {
        let mut config = SimConfig {
            app_secret: self.app_secret,
            access_token: self.access_token,
            webhook_url: self.webhook_url,
            phone_number_id: self.phone_number_id,
            ..SimConfig::default()
        };
        self.faults.apply(&mut config);
        (config, self.listen)
    }
}

/// Fault and behaviour flags shared by the `cloud-api-sim` binary and `veil sim`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FaultFlags {
    /// Probability of a 500 (code 131000) instead of accepting a send.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Refuse the next N sends with 429 / 130429.
    #[arg(long, default_value_t = 0)]
    pub burst_429: u32,
    /// Added latency per Graph API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability that an accepted send's response is dropped (connection cut).
    #[arg(long, default_value_t = 0.0)]
    pub drop_after_accept_rate: f64,
    /// Probability that a status webhook is delivered twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_rate: f64,
    /// Probability that delivered and read are emitted in swapped order.
    #[arg(long, default_value_t = 0.0)]
    pub reorder_rate: f64,
}

impl FaultFlags {
    /// Applies the flags to a configuration.
    pub fn apply(&self, config: &mut SimConfig) {
        config.faults = Faults {
            error_rate: self.error_rate,
            burst_429: self.burst_429,
            latency_ms: self.latency_ms,
            drop_after_accept_rate: self.drop_after_accept_rate,
            fail_next_with: None,
        };
        config.duplicate_rate = self.duplicate_rate;
        config.reorder_rate = self.reorder_rate;
    }
}

/// Starts the simulator on `addr` (port 0 picks a free port) and returns once it listens.
pub async fn spawn(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    // reqwest is built without a default TLS provider (keeps aws-lc-rs out): use ring. Does
    // nothing if the embedding process installed one already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let url = format!("http://{local}");
    let state = Arc::new(state::SimState::new(config, url.clone()));
    webhooks::start_emitter(state.clone());
    let app = graph::router(state.clone());
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "simulator server stopped");
        }
    });
    Ok(SimHandle { url, state, task })
}
