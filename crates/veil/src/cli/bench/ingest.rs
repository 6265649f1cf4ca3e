//! `veil bench ingest`: signed Meta-format webhooks over HTTP against a running node (or one
//! started offline here), each answered only once durably committed.

use std::time::{Duration, Instant};

use super::load::{LoadPlan, LoadResult, drive};
use super::{Scratch, parse_duration, percentile};
use crate::cli::setup::Global;

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

/// `veil bench ingest`.
#[allow(
    clippy::too_many_lines,
    reason = "one benchmark script: set-up, load, report, check, tear-down"
)]
pub async fn ingest(global: &Global, args: IngestArgs) -> anyhow::Result<()> {
    let scratch = Scratch::create(global).await?;
    let app = scratch.start().await?;
    let backend = app.state.store.backend();
    println!(
        "veil bench ingest: backend {backend}, concurrency {}, duration {:?}, rate {}",
        args.concurrency,
        args.duration,
        args.rate.map_or("unpaced".into(), |r| format!("{r}/s"))
    );
    let plan = LoadPlan {
        addr: app.url.trim_start_matches("http://").to_owned(),
        duration: args.duration,
        connections: args.concurrency,
        rate: args.rate,
        customers: args.customers.max(1),
        run: "bench".to_owned(),
    };
    let started = Instant::now();
    // The load runs on its own single-threaded runtime in its own thread, so that it does not
    // steal work from Veil's runtime; both still share the machine's cores.
    let load_thread = std::thread::spawn(move || drive(plan));
    let LoadResult {
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
    scratch.remove().await?;
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
