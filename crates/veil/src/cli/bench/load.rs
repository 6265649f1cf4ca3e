//! The webhook load generator of `veil bench ingest` (in a thread of its own) and of `veil bench
//! load` (a process of its own, so that `veil bench cost` measures the server's CPU alone).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{parse_duration, percentile};
use crate::clock::{Clock, SystemClock};

/// The app secret every benchmark signs with.
pub const APP_SECRET: &str = "bench-app-secret";

/// Options of `veil bench load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Address of the Veil to drive, e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub addr: String,
    /// How long to send, e.g. 15s.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Pace the whole load to this many webhooks per second (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<u32>,
    /// Distinct customers (the server should know them already).
    #[arg(long, default_value_t = 5_000)]
    pub customers: usize,
    /// Distinguishes this run's wamids from earlier runs against the same database.
    #[arg(long, default_value = "load")]
    pub run: String,
}

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

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub latencies_us: Vec<u32>,
    pub acked: Vec<String>,
    /// When each acknowledgement came, in whole seconds since the load started.
    pub acked_second: Vec<u32>,
    pub errors: u64,
}

impl LoadResult {
    fn merge(&mut self, other: Self) {
        self.latencies_us.extend(other.latencies_us);
        self.acked.extend(other.acked);
        self.acked_second.extend(other.acked_second);
        self.errors += other.errors;
    }
}

/// A whole load: `connections` keep-alive connections until `duration` has passed.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub addr: String,
    pub duration: Duration,
    pub connections: usize,
    pub rate: Option<u32>,
    pub customers: usize,
    pub run: String,
}

/// What one load connection does.
struct Connection {
    plan: Arc<LoadPlan>,
    clock: Arc<dyn Clock>,
    interval: Option<Duration>,
    started: Instant,
    deadline: Instant,
}

/// Runs the plan on a single-threaded runtime of its own in the calling thread, so that the load
/// never steals a worker from Veil's runtime (in-process) and stays cheap (out of process).
pub fn drive(plan: LoadPlan) -> anyhow::Result<LoadResult> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let deadline = started + plan.duration;
    let interval = plan.rate.map(|rate| {
        Duration::from_secs_f64(
            f64::from(u32::try_from(plan.connections).unwrap_or(u32::MAX)) / f64::from(rate.max(1)),
        )
    });
    let plan = Arc::new(plan);
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..plan.connections {
            let connection = Connection {
                plan: plan.clone(),
                clock: Arc::new(SystemClock),
                interval,
                started,
                deadline,
            };
            tasks.spawn(run_connection(connection, task));
        }
        let mut all = LoadResult::default();
        while let Some(joined) = tasks.join_next().await {
            all.merge(joined??);
        }
        Ok(all)
    })
}

/// One keep-alive HTTP/1.1 connection posting signed webhooks until the deadline. A plain hyper
/// connection: the load generator may share the cores with Veil, so it must be cheap.
async fn run_connection(load: Connection, task: usize) -> anyhow::Result<LoadResult> {
    let stream = tokio::net::TcpStream::connect(&load.plan.addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut result = LoadResult::default();
    // Each connection's ticks are offset by its share of the interval, so that a paced load
    // arrives evenly, not as one burst of every connection at once per interval.
    let connections = u32::try_from(load.plan.connections.max(1)).unwrap_or(u32::MAX);
    let phase = u32::try_from(task).unwrap_or(0);
    let mut ticker = load.interval.map(|every| {
        let offset = every / connections * phase;
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let customers = load.plan.customers.max(1);
    let mut n = 0usize;
    while Instant::now() < load.deadline {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        let wamid = format!("wamid.{}.{task}.{n}", load.plan.run);
        let body = webhook_body(
            (task * 7919 + n) % customers,
            &wamid,
            load.clock.now_ms() / 1000,
        );
        let signature = veil_crypto::sign_hub_body(APP_SECRET.as_bytes(), body.as_bytes());
        n += 1;
        let request = hyper::Request::post("/webhooks/whatsapp")
            .header("host", &load.plan.addr)
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

/// `veil bench load`: drives a running Veil and prints one summary line that `veil bench cost`
/// reads: `acked N errors E p50_us A p99_us B max_us C`.
pub async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let plan = LoadPlan {
        addr: args.addr,
        duration: args.duration,
        connections: args.connections.max(1),
        rate: args.rate,
        customers: args.customers,
        run: args.run,
    };
    let mut result = tokio::task::spawn_blocking(move || drive(plan)).await??;
    result.latencies_us.sort_unstable();
    println!(
        "acked {} errors {} p50_us {} p99_us {} max_us {}",
        result.acked.len(),
        result.errors,
        percentile(&result.latencies_us, 0.50),
        percentile(&result.latencies_us, 0.99),
        percentile(&result.latencies_us, 1.0)
    );
    Ok(())
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
