//! Wiring: opens the store, loads keys, starts the ingest writer, the HTTP server and the
//! background workers, and stops them cleanly.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::Config;
use crate::identity::{Identity, Role};
use crate::inbound::{IngestDeps, Ingestor};
use crate::inbox::Inbox;
use crate::keys::Keys;
use crate::media::{MediaFetcher, MediaFiles};
use crate::outbox::Outbox;
use crate::state::{AppParts, AppState};
use crate::store::{ChannelRow, SqlStore, Store};
use crate::whatsapp::graph::GraphClient;

/// How to run: tests drive workers by hand and move the clock themselves.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub clock: Arc<dyn Clock>,
    /// Run the send and media workers in the background (off in tests, which call `run_once`).
    pub background_workers: bool,
    /// On first start (no users), create the first owner and write their setup link to
    /// `<data_dir>/first-owner-setup-link.txt` (`veil serve`; the demo and tests make their own).
    pub bootstrap_owner: bool,
}

/// A running Veil.
pub struct RunningApp {
    pub url: String,
    pub state: AppState,
    pub media: MediaFetcher,
    store: SqlStore,
    /// This process among the nodes sharing the database (random per start).
    pub node: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Jobs that run on one node at a time, under a lease in `job_leases`.
const LEADER_JOBS: [&str; 3] = ["assigner", "audit", "housekeeping"];
/// How long a job's lease lasts without renewal: a dead node's jobs move on after this.
const LEASE_MS: i64 = 10_000;

/// Builds everything and starts serving on `listener`.
#[allow(
    clippy::too_many_lines,
    reason = "linear wiring of the whole app; splitting it would scatter one recipe"
)]
pub async fn start(
    config: Config,
    listener: TcpListener,
    options: AppOptions,
) -> anyhow::Result<RunningApp> {
    let sql = SqlStore::connect(config.database_url.expose()).await?;
    let store: Arc<dyn Store> = Arc::new(sql.clone());
    store.migrate().await?;
    let keys = Keys::load(&config.key_file, store.as_ref()).await?;
    let channel = store
        .upsert_channel(&ChannelRow {
            id: Uuid::now_v7().to_string(),
            phone_number_id: if config.whatsapp.phone_number_id.is_empty() {
                "unconfigured".into()
            } else {
                config.whatsapp.phone_number_id.clone()
            },
            display_phone_number: config.whatsapp.display_phone_number.clone(),
            waba_id: config.whatsapp.waba_id.clone(),
            created_at: options.clock.now_ms(),
        })
        .await?;
    let timeout = Duration::from_millis(config.outbound.request_timeout_ms);
    let graph = GraphClient::new(
        &config.whatsapp.graph_api_base,
        config
            .whatsapp
            .access_token
            .expose_secret()
            .to_owned()
            .into(),
        &config.whatsapp.phone_number_id,
        timeout,
    )?;
    let files = MediaFiles::new(&config.media_dir);
    let clock = options.clock.clone();
    let guard = Arc::new(crate::guard::Guard::new(crate::guard::scanner(
        &config.guard,
    )));
    crate::inbox::screen::load_policy(store.as_ref(), &guard).await?;
    let ingestor = Ingestor::start(IngestDeps {
        store: store.clone(),
        keys: keys.clone(),
        clock: clock.clone(),
        default_channel: channel,
        guard: guard.clone(),
    });
    // Files held in memory at once: uploads being read and files being sent to Meta.
    let uploads = Arc::new(tokio::sync::Semaphore::new(
        config.media_max_concurrent_uploads,
    ));
    let outbox = Outbox::new(
        store.clone(),
        keys.clone(),
        clock.clone(),
        graph.clone(),
        files.clone(),
        config.outbound.clone(),
        config.whatsapp.phone_number_id.clone(),
    )
    .with_guard(guard.clone())
    .with_uploads(uploads.clone());
    let media = MediaFetcher {
        store: store.clone(),
        keys: keys.clone(),
        clock: clock.clone(),
        graph,
        files: files.clone(),
        max_bytes: config.media_max_bytes,
        clamd: (!config.guard.clamd_socket.is_empty())
            .then(|| std::path::PathBuf::from(&config.guard.clamd_socket)),
    };
    let url = format!("http://{}", listener.local_addr()?);
    let config = Arc::new(config);
    let audit = crate::audit::AuditLog::start(
        store.clone(),
        clock.clone(),
        &crate::audit::AuditSetup::from_config(&config),
    )
    .await?;
    audit.record(config_start_event(&config)).await?;
    let identity = Identity::new(
        store.clone(),
        keys.clone(),
        clock.clone(),
        config.clone(),
        audit.clone(),
    )?;
    identity.load_policy().await?;
    if options.bootstrap_owner {
        bootstrap_owner(&identity, &config).await?;
    }
    let node = Uuid::new_v4().to_string();
    // Other nodes exist only where the store can carry change signals (PostgreSQL): only then
    // does every signal also go to the relay.
    let feed = store.listen_changes().await?;
    let (live, outgoing) = if feed.is_some() {
        let (live, outgoing) = crate::inbox::live::Live::with_relay();
        (live, Some(outgoing))
    } else {
        (crate::inbox::live::Live::new(), None)
    };
    let desk = crate::inbox::desk::Desk {
        store: store.clone(),
        keys: keys.clone(),
        clock: clock.clone(),
        live: live.clone(),
        identity: identity.clone(),
    };
    let assigner = crate::inbox::assignment::Assigner {
        store: store.clone(),
        clock: clock.clone(),
        live: live.clone(),
    };
    let alerter = crate::audit::alerts::Alerter {
        store: store.clone(),
        clock: clock.clone(),
        config: config.alerts.clone(),
    };
    let deliverer = crate::audit::deliver::Deliverer::new(
        store.clone(),
        clock.clone(),
        config.alerts.clone(),
        config.public_url.clone(),
    )?;
    let state = AppState::new(AppParts {
        audit,
        alerter,
        deliverer,
        identity,
        live,
        desk,
        assigner,
        config,
        store: store.clone(),
        clock: clock.clone(),
        ingestor,
        inbox: Inbox {
            store: store.clone(),
            keys,
            clock,
            files,
        },
        outbox,
        guard,
        send_wakeup: Arc::new(Notify::new()),
        media_wakeup: Arc::new(Notify::new()),
        uploads,
    });
    let (shutdown, mut stop) = watch::channel(false);
    let router = crate::http::router::router(state.clone());
    let webhook = crate::http::webhook::Direct::new(state.clone());
    let limits = crate::http::server::EdgeLimits {
        max_connections: state.config.max_connections,
        header_timeout: Duration::from_secs(state.config.header_timeout_secs),
    };
    let server = tokio::spawn(async move {
        let graceful = async move {
            let _ = stop.changed().await;
        };
        crate::http::server::serve(
            listener,
            router,
            webhook,
            limits,
            graceful,
            Duration::from_secs(10),
        )
        .await;
    });
    let mut tasks = vec![server];
    if let Some(outgoing) = outgoing {
        tasks.push(spawn_change_relay(
            store.clone(),
            outgoing,
            node.clone(),
            shutdown.subscribe(),
        ));
    }
    if let Some(feed) = feed {
        tasks.push(spawn_change_listener(
            feed,
            state.live.clone(),
            node.clone(),
            shutdown.subscribe(),
        ));
    }
    if options.background_workers {
        tasks.push(spawn_send_worker(state.clone(), shutdown.subscribe()));
        tasks.push(spawn_assigner(&state, &node, shutdown.subscribe()));
        tasks.push(spawn_policy_refresh(&state, shutdown.subscribe()));
        tasks.push(spawn_audit_workers(&state, &node, shutdown.subscribe()));
        tasks.push(spawn_housekeeping(&state, &node, shutdown.subscribe()));
        tasks.push(spawn_media_worker(
            &state,
            media.clone(),
            shutdown.subscribe(),
        ));
    }
    Ok(RunningApp {
        url,
        state,
        media,
        store: sql,
        node,
        shutdown,
        tasks,
    })
}

/// This node's claim on a job that runs on one node at a time.
struct Lease {
    job: &'static str,
    node: String,
    /// Until when the lease in the database is this node's (0: not held).
    held_until: std::sync::atomic::AtomicI64,
}

impl Lease {
    fn new(job: &'static str, node: &str) -> Self {
        Self {
            job,
            node: node.to_owned(),
            held_until: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Whether this node runs the job now. The lease is renewed in the database only when less
    /// than half of it is left, so a job woken by every message does not write on every run.
    async fn held(&self, state: &AppState) -> bool {
        use std::sync::atomic::Ordering;
        let now = state.clock.now_ms();
        if now < self.held_until.load(Ordering::Relaxed) - LEASE_MS / 2 {
            return true;
        }
        let until = now.saturating_add(LEASE_MS);
        match state
            .store
            .take_lease(self.job, &self.node, now, until)
            .await
        {
            Ok(held) => {
                self.held_until
                    .store(if held { until } else { 0 }, Ordering::Relaxed);
                held
            }
            Err(err) => {
                tracing::warn!(error = %err, job = self.job, "job lease could not be taken");
                self.held_until.store(0, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Hands this node's change signals to the other nodes, a batch at a time (identical signals of a
/// batch go once).
fn spawn_change_relay(
    store: Arc<dyn Store>,
    mut outgoing: tokio::sync::mpsc::UnboundedReceiver<crate::inbox::live::LiveEvent>,
    node: String,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                _ = stop.changed() => return,
                first = outgoing.recv() => first,
            };
            let Some(first) = first else { return };
            let mut batch = vec![first.encode(&node)];
            let mut seen: std::collections::HashSet<String> = batch.iter().cloned().collect();
            while batch.len() < 1000
                && let Ok(next) = outgoing.try_recv()
            {
                let text = next.encode(&node);
                if seen.insert(text.clone()) {
                    batch.push(text);
                }
            }
            if let Err(err) = store.publish_changes(&batch).await {
                tracing::warn!(error = %err, "change signals could not reach the other nodes");
            }
        }
    })
}

/// Delivers the other nodes' change signals to this node's listeners. After a lost connection
/// (signals may be gone) it tells them that anything may have changed.
fn spawn_change_listener(
    mut feed: crate::store::ChangeFeed,
    live: crate::inbox::live::Live,
    node: String,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    use crate::inbox::live::{LiveEvent, LiveKind};
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = stop.changed() => return,
                next = feed.next() => next,
            };
            match next {
                Ok(Some(text)) => match LiveEvent::decode(&text) {
                    Some((from, event)) if from != node => live.deliver(event),
                    _ => {}
                },
                Ok(None) => {
                    for kind in [LiveKind::Message, LiveKind::Status, LiveKind::Conversation] {
                        live.deliver(LiveEvent {
                            kind,
                            conversation_id: None,
                        });
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "listening for other nodes' changes failed");
                    if tokio::time::timeout(Duration::from_secs(1), stop.changed())
                        .await
                        .is_ok()
                    {
                        return;
                    }
                }
            }
        }
    })
}

/// The entry every start writes: which configuration (a digest of its non-secret values) runs.
fn config_start_event(config: &Config) -> crate::audit::AuditEvent {
    let summary = serde_json::json!({
        "public_url": config.public_url,
        "trusted_proxies": config.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "ip_allowlist": config.ip_allowlist.iter().map(|(k, v)| (k.clone(), v.iter().map(ToString::to_string).collect::<Vec<_>>())).collect::<std::collections::BTreeMap<_, _>>(),
        "auth": config.auth,
        "outbound": config.outbound,
        "alerts": config.alerts,
        "audit_origin": config.audit.origin,
        "graph_api_base": config.whatsapp.graph_api_base,
        "phone_number_id": config.whatsapp.phone_number_id,
    });
    let digest = veil_crypto::sha256(summary.to_string().as_bytes());
    crate::audit::AuditEvent::system(
        "system",
        "config.start",
        format!(
            "config:{}",
            hex::encode(digest.get(..8).unwrap_or_default())
        ),
    )
}

/// Checkpoints (every `audit.checkpoint_seconds` when the log grew), a whole-log verification
/// (at start and every `audit.verify_minutes`), alert rules (every 2 s) and alert delivery
/// (every 5 s).
fn spawn_audit_workers(
    state: &AppState,
    node: &str,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let state = state.clone();
    let lease = Lease::new("audit", node);
    let audit = state.audit.clone();
    let alerter = state.alerter.clone();
    let deliverer = state.deliverer.clone();
    let checkpoint_every = state.config.audit.checkpoint_seconds;
    let verify_every = state.config.audit.verify_minutes * 60;
    tokio::spawn(async move {
        let mut tick = 0u64;
        let mut second = tokio::time::interval(Duration::from_secs(1));
        loop {
            if !lease.held(&state).await {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = second.tick() => {}
                }
                continue;
            }
            if tick.is_multiple_of(checkpoint_every.max(2))
                && let Err(err) = audit.checkpoint().await
            {
                tracing::warn!(error = %err, "audit checkpoint failed");
            }
            if verify_every > 0
                && tick.is_multiple_of(verify_every)
                && let Err(err) = alerter.verify_log(&audit).await
            {
                tracing::warn!(error = %err, "audit verification could not run");
            }
            if tick.is_multiple_of(2)
                && let Err(err) = alerter.run_once().await
            {
                tracing::warn!(error = %err, "alert rules failed");
            }
            if tick.is_multiple_of(5)
                && let Err(err) = deliverer.run_once().await
            {
                tracing::warn!(error = %err, "alert delivery failed");
            }
            tick += 1;
            tokio::select! {
                _ = stop.changed() => return,
                _ = second.tick() => {}
            }
        }
    })
}

/// One housekeeping pass: deletes the pacing buckets whose time has passed (one row per number
/// and per recipient ever paced would otherwise stay forever). Returns the rows deleted.
pub async fn housekeeping_once(
    state: &AppState,
) -> Result<Housekeeping, crate::identity::AuthError> {
    let now_us = state.clock.now_ms().saturating_mul(1000);
    let pacing = state.store.prune_pacing(now_us).await?;
    let (throttles, sessions) = state.identity.sweep().await?;
    Ok(Housekeeping {
        pacing,
        throttles,
        sessions,
    })
}

/// What one housekeeping pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Housekeeping {
    /// Pacing buckets whose time had passed.
    pub pacing: u64,
    /// Throttle counters of unknown e-mails and forgotten client addresses.
    pub throttles: u64,
    /// Sessions past their idle or absolute lifetime.
    pub sessions: u64,
}

/// Housekeeping on one node at a time: the lease is renewed every 5 s, and a pass runs once a
/// minute.
fn spawn_housekeeping(
    state: &AppState,
    node: &str,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    const PASS_EVERY_TICKS: u64 = 12;
    let state = state.clone();
    let lease = Lease::new("housekeeping", node);
    tokio::spawn(async move {
        let mut tick = 0u64;
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = every.tick() => {}
            }
            if !lease.held(&state).await {
                continue;
            }
            if tick.is_multiple_of(PASS_EVERY_TICKS)
                && let Err(err) = housekeeping_once(&state).await
            {
                tracing::warn!(error = %err, "housekeeping failed");
            }
            tick += 1;
        }
    })
}

/// Creates the first owner when there are no users, and leaves the one-time setup link in a
/// private file (never in the log).
async fn bootstrap_owner(identity: &Identity, config: &Config) -> anyhow::Result<()> {
    if identity.count_users().await? > 0 {
        return Ok(());
    }
    let created = identity
        .create_user(
            None,
            &config.auth.first_owner_email,
            "Owner",
            Role::Owner,
            crate::i18n::AUTO,
        )
        .await?;
    let path = config.data_dir.join("first-owner-setup-link.txt");
    let link = format!(
        "{}/setup/{}\n",
        config.public_url,
        created.setup_secret.expose_text()
    );
    crate::keys::write_private(&path, link.as_bytes())?;
    tracing::warn!(path = %path.display(), "first owner created; open the setup link in this file to choose a password");
    Ok(())
}

/// Runs `work` whenever woken, and at least every `every`, until shutdown.
async fn worker_loop<F, Fut>(
    wakeup: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    every: Duration,
    mut work: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        work().await;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::timeout(every, wakeup.notified()) => {}
        }
    }
}

fn spawn_send_worker(state: AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let wakeup = state.send_wakeup.clone();
    tokio::spawn(worker_loop(
        wakeup,
        stop,
        Duration::from_millis(250),
        move || {
            let outbox = state.outbox.clone();
            let live = state.live.clone();
            async move {
                match outbox.run_once().await {
                    Ok(report) if report.sent + report.failed > 0 => {
                        live.publish(crate::inbox::live::LiveKind::Status, None);
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "send worker run failed"),
                }
            }
        },
    ))
}

/// The assigner runs after new inbound messages and every two seconds (members come online,
/// conversations are resolved and free capacity). Before each run it drops the signals already
/// waiting (the run covers them), so a burst of ingest costs one queue read, not one per group
/// commit.
fn spawn_assigner(state: &AppState, node: &str, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let state = state.clone();
    let lease = Lease::new("assigner", node);
    let assigner = state.assigner.clone();
    let mut changes = state.live.subscribe();
    tokio::spawn(async move {
        loop {
            use tokio::sync::broadcast::error::TryRecvError;
            while matches!(changes.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
            if lease.held(&state).await
                && let Err(err) = assigner.run_once().await
            {
                tracing::warn!(error = %err, "assigner run failed");
            }
            let wait = async {
                loop {
                    match changes.recv().await {
                        Ok(event) if event.kind == crate::inbox::live::LiveKind::Message => return,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            };
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::timeout(Duration::from_secs(2), wait) => {}
            }
        }
    })
}

/// Re-reads the access policy every few seconds, so that a change saved on another node holds
/// here too.
fn spawn_policy_refresh(state: &AppState, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let identity = state.identity.clone();
    let guard = state.guard.clone();
    let store = state.store.clone();
    tokio::spawn(worker_loop(
        Arc::new(Notify::new()),
        stop,
        Duration::from_secs(5),
        move || {
            let identity = identity.clone();
            let guard = guard.clone();
            let store = store.clone();
            async move {
                if let Err(err) = identity.load_policy().await {
                    tracing::warn!(error = %err, "policy refresh failed");
                }
                if let Err(err) = crate::inbox::screen::load_policy(store.as_ref(), &guard).await {
                    tracing::warn!(error = %err, "guard policy refresh failed");
                }
            }
        },
    ))
}

fn spawn_media_worker(
    state: &AppState,
    media: MediaFetcher,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(worker_loop(
        state.media_wakeup.clone(),
        stop,
        Duration::from_secs(1),
        move || {
            let media = media.clone();
            async move {
                if let Err(err) = media.run_once().await {
                    tracing::warn!(error = %err, "media worker run failed");
                }
            }
        },
    ))
}

impl RunningApp {
    /// Stops serving, lets workers finish their current run, and closes the database.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        for job in LEADER_JOBS {
            if let Err(err) = self.state.store.release_lease(job, &self.node).await {
                tracing::warn!(error = %err, job, "job lease could not be released");
            }
        }
        self.store.close().await;
    }
}
