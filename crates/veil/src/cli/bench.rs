//! Benchmarks of the hot paths, as commands so they run against the real binary:
//! `veil bench ingest` (signed webhooks over HTTP, durably committed) and `veil bench crypto`.
//! They print figures; no test asserts on time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use veil_crypto::{Aad, DataKey, Keyring};

use crate::cli::{Global, load_config};
use crate::clock::{Clock, SystemClock};
use crate::config::Require;

/// Options of `veil bench ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// How long to send, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Requests in flight at once (256 saturates a 2-core machine; more only adds latency).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Pace the whole load to this many messages per second (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<u32>,
    /// Distinct simulated customers.
    #[arg(long, default_value_t = 5_000)]
    pub customers: usize,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |i| text.split_at(i));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        _ => Err(format!("unknown unit in {text}; use ms, s or m")),
    }
}

const APP_SECRET: &str = "bench-app-secret";

/// A realistic inbound text webhook, escaped as Meta sends it, for customer `customer` (used by
/// `bench ingest` and `veil seed`).
pub fn webhook_body(customer: usize, wamid: &str, timestamp: i64) -> String {
    format!(
        concat!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"200000000000002","changes":[{{"value":{{"messaging_product":"whatsapp","#,
            r#""metadata":{{"display_phone_number":"15550001234","phone_number_id":"100000000000001"}},"#,
            r#""contacts":[{{"profile":{{"name":"Cust\u00f3mer {c}"}},"wa_id":"4915{c:09}","user_id":"US.{c}"}}],"#,
            r#""messages":[{{"from":"4915{c:09}","from_user_id":"US.{c}","id":"{w}","timestamp":"{t}","type":"text","#,
            r#""text":{{"body":"Hallo, wo ist meine Bestellung Nummer {c}? Gr\u00fc\u00dfe"}}}}]}},"field":"messages"}}]}}]}}"#
        ),
        c = customer,
        w = wamid,
        t = timestamp
    )
}

struct TaskResult {
    latencies_us: Vec<u32>,
    acked: Vec<String>,
    /// When each acknowledgement came, in whole seconds since the load started.
    acked_second: Vec<u32>,
    errors: u64,
}

/// What one load connection does.
struct Load {
    addr: String,
    clock: Arc<dyn Clock>,
    customers: usize,
    interval: Option<Duration>,
    started: Instant,
    deadline: Instant,
}

/// One keep-alive HTTP/1.1 connection posting signed webhooks until the deadline. A plain hyper
/// connection: the load generator shares the two cores with Veil, so it must be cheap.
async fn run_connection(load: Load, task: usize) -> anyhow::Result<TaskResult> {
    let stream = tokio::net::TcpStream::connect(&load.addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut result = TaskResult {
        latencies_us: Vec::new(),
        acked: Vec::new(),
        acked_second: Vec::new(),
        errors: 0,
    };
    let mut ticker = load.interval.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut n = 0usize;
    while Instant::now() < load.deadline {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        let wamid = format!("wamid.bench.{task}.{n}");
        let body = webhook_body(
            (task * 7919 + n) % load.customers,
            &wamid,
            load.clock.now_ms() / 1000,
        );
        let signature = veil_crypto::sign_hub_body(APP_SECRET.as_bytes(), body.as_bytes());
        n += 1;
        let request = hyper::Request::post("/webhooks/whatsapp")
            .header("host", &load.addr)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))?;
        let sent = Instant::now();
        sender.ready().await?;
        match sender.send_request(request).await {
            Ok(response) if response.status().is_success() => {
                http_body_util::BodyExt::collect(response.into_body()).await?;
                result
                    .latencies_us
                    .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                result.acked.push(wamid);
                result
                    .acked_second
                    .push(u32::try_from(load.started.elapsed().as_secs()).unwrap_or(u32::MAX));
            }
            Ok(response) => {
                http_body_util::BodyExt::collect(response.into_body()).await?;
                result.errors += 1;
            }
            Err(_) => result.errors += 1,
        }
    }
    Ok(result)
}

/// `veil bench ingest`.
#[allow(
    clippy::too_many_lines,
    reason = "one benchmark script: set-up, load, report, check, tear-down"
)]
pub async fn ingest(global: &Global, args: IngestArgs) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("veil-bench-{}", uuid::Uuid::now_v7()));
    let (database_url, drop_after) = match global.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => {
            let name = format!("veil_bench_{}", uuid::Uuid::now_v7().simple());
            (
                crate::store::create_database(url, &name).await?,
                Some((url.to_owned(), name)),
            )
        }
        _ => (
            format!("sqlite://{}", scratch.join("veil.db").display()),
            None,
        ),
    };
    let bench_global = Global {
        config: None,
        data_dir: Some(scratch.clone()),
        database_url: Some(database_url),
    };
    let mut config = load_config(
        &bench_global,
        Some(([127, 0, 0, 1], 0).into()),
        Require::StorageOnly,
    )?;
    config.whatsapp.app_secret = SecretString::from(APP_SECRET.to_owned());
    let app = start_offline(config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let backend = app.state.store.backend();
    println!(
        "veil bench ingest: backend {backend}, concurrency {}, duration {:?}, rate {}",
        args.concurrency,
        args.duration,
        args.rate.map_or("unpaced".into(), |r| format!("{r}/s"))
    );
    let addr = app.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let deadline = started + args.duration;
    // The load runs on its own single-threaded runtime in its own thread, so that it does not
    // steal work from Veil's runtime; both still share the machine's cores.
    let concurrency = args.concurrency;
    let customers = args.customers.max(1);
    let interval = args.rate.map(|rate| {
        Duration::from_secs_f64(
            f64::from(u32::try_from(concurrency).unwrap_or(u32::MAX)) / f64::from(rate.max(1)),
        )
    });
    let load_clock = clock.clone();
    let load_thread = std::thread::spawn(move || -> anyhow::Result<TaskResult> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for task in 0..concurrency {
                let load = Load {
                    addr: addr.clone(),
                    clock: load_clock.clone(),
                    customers,
                    interval,
                    started,
                    deadline,
                };
                tasks.spawn(run_connection(load, task));
            }
            let mut all = TaskResult {
                latencies_us: Vec::new(),
                acked: Vec::new(),
                acked_second: Vec::new(),
                errors: 0,
            };
            while let Some(joined) = tasks.join_next().await {
                let result = joined??;
                all.latencies_us.extend(result.latencies_us);
                all.acked.extend(result.acked);
                all.acked_second.extend(result.acked_second);
                all.errors += result.errors;
            }
            Ok(all)
        })
    });
    let TaskResult {
        latencies_us: mut latencies,
        acked,
        acked_second,
        errors,
    } = tokio::task::spawn_blocking(move || load_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("load thread panicked"))??;
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| f64::from(percentile(&latencies, p)) / 1000.0;
    #[allow(
        clippy::cast_precision_loss,
        reason = "message counts are far below 2^52"
    )]
    let rate = acked.len() as f64 / elapsed;
    println!(
        "acknowledged {} messages in {elapsed:.2} s: {rate:.0} messages/s ({errors} errors)",
        acked.len()
    );
    println!(
        "latency ms: p50 {:.2}  p99 {:.2}  max {:.2}",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!("{}", per_second(&acked_second));
    let stored = app.state.store.count_messages().await?;
    let present = app.state.store.wamids_present(&acked).await?;
    let all_there = usize::try_from(present).ok() == Some(acked.len());
    println!(
        "check: {present} of {} acknowledged wamids are in the database ({stored} messages stored): {}",
        acked.len(),
        if all_there { "OK" } else { "MISSING MESSAGES" }
    );
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
    if let Some((admin_url, name)) = drop_after {
        crate::store::drop_database(&admin_url, &name).await?;
    }
    anyhow::ensure!(
        all_there,
        "acknowledged messages are missing from the database"
    );
    Ok(())
}

/// Acknowledgements in each whole second of the load: the first seconds create the customers'
/// contacts, later ones are the steady state. The last, partial second is left out.
fn per_second(acked_second: &[u32]) -> String {
    use std::fmt::Write as _;
    let mut counts: Vec<u64> = Vec::new();
    for &second in acked_second {
        let i = usize::try_from(second).unwrap_or(usize::MAX);
        if i < 1_000 {
            if counts.len() <= i {
                counts.resize(i + 1, 0);
            }
            if let Some(count) = counts.get_mut(i) {
                *count += 1;
            }
        }
    }
    counts.pop();
    counts
        .iter()
        .fold("messages per second:".to_owned(), |mut line, n| {
            let _ = write!(line, " {n}");
            line
        })
}

/// Starts Veil for a command that works on a database (benchmarks, `veil seed`): on
/// 127.0.0.1, no background workers, a Graph API address nothing listens on (nothing is sent).
pub(crate) async fn start_offline(
    mut config: crate::config::Config,
) -> anyhow::Result<crate::app::RunningApp> {
    crate::cli::ensure_sqlite_dir(&config)?;
    crate::keys::init_keyring(&config.key_file)?;
    config.whatsapp.phone_number_id = "100000000000001".into();
    config.whatsapp.graph_api_base = "http://127.0.0.1:9/v23.0".into();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    crate::app::start(
        config,
        listener,
        crate::app::AppOptions {
            clock: Arc::new(SystemClock),
            background_workers: false,
            bootstrap_owner: false,
        },
    )
    .await
}

/// Options of `veil bench pages`.
#[derive(Debug, Clone, clap::Args)]
pub struct PagesArgs {
    /// Requests per page kind.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
}

/// Signs a seeded user in through the domain (password, then a TOTP code), with credentials set
/// for the run; returns the `Cookie` header value of the full session.
async fn bench_session(state: &crate::state::AppState, email: &str) -> anyhow::Result<String> {
    use crate::identity::totp::TotpSecret;
    let identity = &state.identity;
    let user = state.store.user_by_email(email).await?.ok_or_else(|| {
        anyhow::anyhow!("{email} is missing: run `veil seed` on this data directory first")
    })?;
    let password = SecretString::from(format!(
        "bench lantern {} orchard",
        uuid::Uuid::now_v7().simple()
    ));
    identity.set_password(&user.id, &password).await?;
    let secret = TotpSecret::generate();
    identity.enroll_directly(&user.id, &secret).await?;
    let client = crate::identity::Client::new([127, 0, 0, 1].into(), Some("veil bench"));
    let pending = identity.login(email, &password, &client, None).await?;
    let (session, user) = identity
        .session(pending.secret.expose_text(), &client)
        .await?;
    let code = secret
        .code_at(SystemClock.now_ms() / 1000)
        .ok_or_else(|| anyhow::anyhow!("totp"))?;
    let full = identity
        .second_factor(&session, &user, &code, &client)
        .await?;
    let cookie =
        crate::http::access::session_cookie(state.config.tls(), full.session.secret.expose_text());
    Ok(cookie
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// `veil bench pages`: the inbox list and conversation pages, rendered by the server over HTTP,
/// against a database made by `veil seed` (same `--data-dir` / `--database-url`).
#[allow(
    clippy::too_many_lines,
    reason = "the page kinds are listed in place, one per line"
)]
pub async fn pages(global: &Global, args: PagesArgs) -> anyhow::Result<()> {
    let config = load_config(
        global,
        Some(([127, 0, 0, 1], 0).into()),
        Require::StorageOnly,
    )?;
    let app = start_offline(config).await?;
    let state = app.state.clone();
    let supervisor = bench_session(&state, crate::cli::seed::SUPERVISOR_EMAIL).await?;
    let agent = bench_session(&state, &crate::cli::seed::agent_email(0)).await?;
    let conversations = state.store.count_conversations().await?;
    let messages = state.store.count_messages().await?;
    println!(
        "veil bench pages: backend {}, {conversations} conversations, {messages} messages, {} requests per page",
        state.store.backend(),
        args.requests
    );
    let sample = state
        .store
        .list_inbox(
            &crate::store::ConversationScope::All,
            "",
            &crate::store::InboxFilter::default(),
            i64::try_from(args.requests.max(1))?,
        )
        .await?;
    let label = state
        .desk
        .labels()
        .await?
        .into_iter()
        .next()
        .map(|l| l.id)
        .unwrap_or_default();
    let http = reqwest::Client::new();
    let base = app.url.clone();
    let kinds: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "inbox, all (supervisor)",
            &supervisor,
            vec!["/inbox".into()],
        ),
        (
            "inbox, open + label",
            &supervisor,
            vec![format!("/inbox?status=open&label={label}")],
        ),
        (
            "inbox, unassigned",
            &supervisor,
            vec!["/inbox?view=unassigned".into()],
        ),
        (
            "inbox, mine (agent)",
            &agent,
            vec!["/inbox?view=mine".into()],
        ),
        (
            "conversation page",
            &supervisor,
            sample
                .iter()
                .map(|c| format!("/inbox/c/{}", c.id))
                .collect(),
        ),
        (
            "search (newest 2,000)",
            &supervisor,
            vec!["/inbox?q=mer%2042".into()],
        ),
    ];
    let mut worst_p95 = 0.0_f64;
    for (name, cookie, paths) in &kinds {
        let p95 = measure(&http, &base, name, cookie, paths, args.requests).await?;
        if !name.starts_with("search") {
            worst_p95 = worst_p95.max(p95);
        }
    }
    println!(
        "list and conversation pages: worst p95 {worst_p95:.2} ms (target 50 ms): {}",
        if worst_p95 < 50.0 { "within" } else { "OVER" }
    );
    app.shutdown().await;
    Ok(())
}

/// Requests `paths` in turn `requests` times, one at a time; prints the percentiles and returns
/// the p95 in milliseconds.
async fn measure(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    cookie: &str,
    paths: &[String],
    requests: usize,
) -> anyhow::Result<f64> {
    anyhow::ensure!(!paths.is_empty(), "no conversations to open: seed first");
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..requests {
        let path = paths.get(i % paths.len()).map_or("/inbox", String::as_str);
        let started = Instant::now();
        let response = http
            .get(format!("{base}{path}"))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        latencies.push(micros(started.elapsed()));
        anyhow::ensure!(
            status.is_success() && !body.is_empty(),
            "{path} answered {status}"
        );
    }
    latencies.sort_unstable();
    let pct = |p: f64| f64::from(percentile(&latencies, p)) / 1000.0;
    println!(
        "{name:<26} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0)
    );
    Ok(pct(0.95))
}

/// `veil bench crypto`: seal/open of a 256-byte field, key unsealing and blind indexes.
pub fn crypto() -> anyhow::Result<()> {
    let keyring = Keyring::generate()?;
    let key = DataKey::generate()?;
    let payload = [7u8; 256];
    let aad = Aad::field(
        "messages",
        "content",
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    );
    let rounds = 200_000u32;
    let sealed = key.seal(&aad, &payload)?;
    report("seal 256 B (AES-256-GCM)", rounds, 256, || {
        key.seal(&aad, &payload).map(|_| ())
    })?;
    report("open 256 B", rounds, 256, || {
        key.open(&aad, &sealed).map(|_| ())
    })?;
    let wrapped = keyring.seal_key(&key, "contacts", "c1")?;
    report("open sealed data key", rounds, 32, || {
        keyring.open_key(&wrapped, "contacts", "c1").map(|_| ())
    })?;
    report("blind index (HMAC-SHA256)", rounds, 13, || {
        let _ = keyring.index_key().blind("wa_id", "4915112345678");
        Ok(())
    })?;
    Ok(())
}

/// Argon2id latency at the default cost, login verifications per second through the bounded
/// hasher under a flood (and how many were turned away with "busy"), and TOTP checks.
pub async fn auth() -> anyhow::Result<()> {
    use crate::identity::password::{HashError, PasswordHashing};
    let config = crate::config::AuthConfig::default();
    let hashing = PasswordHashing::new(&config)?;
    let password = SecretString::from("correct horse battery staple".to_owned());
    let phc = hashing.hash(&password).await?;
    let mut single = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        hashing.verify(&password, Some(&phc)).await?;
        single.push(micros(started.elapsed()));
    }
    single.sort_unstable();
    println!(
        "argon2id verify (m={} KiB, t={}, p={}): median {:.1} ms",
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        f64::from(percentile(&single, 0.5)) / 1000.0
    );
    let flood = 200usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(flood);
    for _ in 0..flood {
        let (hashing, password, phc) = (hashing.clone(), password.clone(), phc.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = hashing.verify(&password, Some(&phc)).await;
            (outcome, started.elapsed())
        }));
    }
    let (mut done, mut busy, mut latencies) = (0u32, 0u32, Vec::new());
    for task in tasks {
        match task.await? {
            (Ok(_), elapsed) => {
                done += 1;
                latencies.push(micros(elapsed));
            }
            (Err(HashError::Busy), _) => busy += 1,
            (Err(e), _) => return Err(e.into()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| f64::from(percentile(&latencies, q)) / 1000.0;
    println!(
        "login flood of {flood} at once (hash_concurrency {}, hash_queue {}): {done} verified, {busy} answered busy (429), {:.1} verifications/s, p50 {:.0} ms, p99 {:.0} ms",
        config.hash_concurrency,
        config.hash_queue,
        f64::from(done) / elapsed,
        pick(0.5),
        pick(0.99)
    );
    totp_checks();
    Ok(())
}

fn totp_checks() {
    let secret = crate::identity::totp::TotpSecret::generate();
    let now = 1_800_000_000;
    let code = secret.code_at(now).unwrap_or_default();
    let rounds = 100_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(secret.check(&code, now));
    }
    println!(
        "totp check (3 steps): {:.2} µs",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
}

/// The `p` quantile (0..=1) of sorted values, 0 when empty.
fn percentile(sorted: &[u32], p: f64) -> u32 {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a sorted vector"
    )]
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn report(
    name: &str,
    rounds: u32,
    bytes: u32,
    mut op: impl FnMut() -> Result<(), veil_crypto::CryptoError>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for _ in 0..rounds {
        op()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_op_ns = elapsed * 1e9 / f64::from(rounds);
    let mb_s = f64::from(rounds) * f64::from(bytes) / elapsed / 1e6;
    println!(
        "{name:<28} {per_op_ns:>8.0} ns/op  {:>10.0} ops/s  {mb_s:>8.1} MB/s",
        f64::from(rounds) / elapsed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn bench_bodies_are_webhooks_veil_parses() {
        let body = webhook_body(42, "wamid.bench.0.0", 1_700_000_000);
        let items = crate::whatsapp::webhook::parse(body.as_bytes()).unwrap();
        let [crate::whatsapp::webhook::WebhookItem::Message(m)] = items.as_slice() else {
            panic!()
        };
        assert_eq!(m.customer.wa_id.as_deref(), Some("4915000000042"));
        let content = crate::whatsapp::webhook::content_of(&m.object);
        assert!(content.text.as_deref().unwrap().ends_with("Grüße"));
    }
}

/// Options of `veil bench audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Entries to append.
    #[arg(long, default_value_t = 200_000)]
    pub entries: usize,
    /// Concurrent callers, each appending one entry at a time (as requests do).
    #[arg(long, default_value_t = 512)]
    pub callers: usize,
}

/// `veil bench audit`: appends through the group-committing writer from many concurrent callers
/// into the configured database, which must hold no audit entry yet (use a fresh `--data-dir` or
/// an empty database), then times inclusion proofs in memory and from the database, and a full
/// verification.
#[allow(clippy::too_many_lines, reason = "one benchmark, printed in order")]
pub async fn audit(global: &Global, args: AuditArgs) -> anyhow::Result<()> {
    use crate::audit::{AuditEvent, AuditLog};
    use veil_crypto::merkle;
    let config = load_config(global, None, Require::StorageOnly)?;
    crate::cli::ensure_sqlite_dir(&config)?;
    let store = crate::store::open(config.database_url.expose()).await?;
    store.migrate().await?;
    // The log is append-only: entries written here could never be removed from a real one.
    let (existing, _) = store.audit_head().await?;
    anyhow::ensure!(
        existing == 0,
        "this audit log already holds {existing} entries, and the benchmark's synthetic entries could \
         never be removed from it: run `veil bench audit` on an empty data directory (SQLite) or an \
         empty database (--database-url)"
    );
    let audit = AuditLog::start(
        store.clone(),
        Arc::new(SystemClock),
        &crate::audit::AuditSetup::from_config(&config),
    )
    .await?;
    let per_caller = args.entries.div_ceil(args.callers.max(1));
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for c in 0..args.callers.max(1) {
        let audit = audit.clone();
        callers.spawn(async move {
            let mut latencies = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                let event = AuditEvent::system(
                    &format!("user:0190a1b2-c3d4-7e5f-8a9b-{c:012}"),
                    crate::audit::alerts::VIEW_ACTION,
                    format!("conversation:0190a1b2-c3d4-7e5f-8a9b-{i:012}"),
                );
                let t = Instant::now();
                audit.record(event).await?;
                latencies.push(micros(t.elapsed()));
            }
            Ok::<_, crate::audit::AuditError>(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = callers.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    #[allow(clippy::cast_precision_loss, reason = "a rate for display")]
    let rate = latencies.len() as f64 / elapsed;
    println!(
        "audit append ({}, {} callers): {} entries in {elapsed:.2} s = {rate:.0} appends/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        store.backend(),
        args.callers,
        latencies.len(),
        f64::from(percentile(&latencies, 0.5)) / 1000.0,
        f64::from(percentile(&latencies, 0.99)) / 1000.0,
        f64::from(percentile(&latencies, 1.0)) / 1000.0,
    );
    let (groups, grouped, store_us) = audit.group_stats();
    #[allow(clippy::cast_precision_loss, reason = "averages for display")]
    {
        println!(
            "  {groups} groups of {:.0} entries on average; the store's append took {:.2} ms per group ({:.1} µs per entry)",
            grouped as f64 / groups.max(1) as f64,
            store_us as f64 / 1000.0 / groups.max(1) as f64,
            store_us as f64 / grouped.max(1) as f64,
        );
    }
    let checkpoint = audit.checkpoint().await?;
    let size = u64::try_from(checkpoint.size).unwrap_or(0);

    // Proofs from a tree in memory (what a proof costs without the database).
    let mut tree = merkle::MemoryTree::new();
    for i in 0..size {
        tree.push(merkle::leaf_hash(&i.to_be_bytes()));
    }
    let rounds = 100_000u32;
    let t = Instant::now();
    for i in 0..rounds {
        let index = u64::from(i).wrapping_mul(2_654_435_761) % size.max(1);
        merkle::inclusion_proof(&tree, size, index)?;
    }
    println!(
        "inclusion proof, tree of {size} in memory: {:.2} µs each",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
    let root = tree.root();
    let proof = merkle::inclusion_proof(&tree, size, size / 3)?;
    let entry = (size / 3).to_be_bytes();
    let t = Instant::now();
    for _ in 0..rounds {
        merkle::verify_inclusion(&entry, size / 3, size, &root, &proof)?;
    }
    println!(
        "inclusion proof check (ct-merkle): {:.2} µs each",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
    let t = Instant::now();
    for i in 0..200u64 {
        audit
            .proof(i64::try_from((i * 7919) % size.max(1)).unwrap_or(0))
            .await?;
    }
    println!(
        "inclusion proof from the database ({}): {:.0} µs each",
        store.backend(),
        t.elapsed().as_secs_f64() * 1e6 / 200.0
    );
    let t = Instant::now();
    let report = audit.verify(None).await?;
    println!(
        "verify: {} entries in {:.2} s ({})",
        report.entries,
        t.elapsed().as_secs_f64(),
        report.problem.as_deref().unwrap_or("ok")
    );
    anyhow::ensure!(report.ok(), "verification failed");
    Ok(())
}
