//! `veil bench ingest`: signed Meta-format webhooks over HTTP against a running node (or one
//! started offline here), each answered only once durably committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::{parse_duration, percentile, start_offline};
use crate::cli::setup::{Global, load_config};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_bodies_are_webhooks_veil_parses() {
        let body = webhook_body(42, "wamid.bench.0.0", 1_700_000_000);
        let items = crate::whatsapp::webhook::parse(body.as_bytes()).unwrap();
        let [crate::whatsapp::webhook::WebhookItem::Message(m)] = items.as_slice() else {
            panic!()
        };
        assert_eq!(m.customer.wa_id.as_deref(), Some("4915000000042"));
        let content = crate::inbox::content::content_of(&m.object);
        assert!(content.text.as_deref().unwrap().ends_with("Grüße"));
    }
}
