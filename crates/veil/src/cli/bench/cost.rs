//! `veil bench cost`: CPU-seconds of the server process per 10,000 durably committed webhooks,
//! with the load generator in a process of its own: `wrk` (saturation) or `veil bench load`
//! (fixed rates). On a machine with two or more cores, Veil is pinned to the last core and the
//! load generator to the first. On PostgreSQL the server processes' CPU is reported as well.
//!
//! CPU comes from `/proc/<pid>/stat` (user + system, every thread, in clock ticks), read before
//! and after the load; webhooks from the database's message count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::load::{APP_SECRET, webhook_body};
use super::{Scratch, parse_duration};
use crate::app::RunningApp;
use crate::cli::setup::Global;

/// The wrk script: each request a distinct signed Meta-format webhook.
const WRK_SCRIPT: &str = include_str!("wrk-webhooks.lua");

/// `/proc` reports CPU in ticks of 1/100 s on every Linux this runs on (`getconf CLK_TCK`).
const TICKS_PER_SECOND: f64 = 100.0;

/// Options of `veil bench cost`.
#[derive(Debug, Clone, clap::Args)]
pub struct CostArgs {
    /// How long the load runs, e.g. 15s.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Fixed rate in webhooks per second (driven by `veil bench load`); default: saturation.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Connections of the load generator.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Known customers the webhooks come from (created before the measurement).
    #[arg(long, default_value_t = 5_000)]
    pub customers: usize,
    /// Load generator at saturation: `wrk` (when installed) or `veil` (`veil bench load`).
    #[arg(long, value_enum, default_value_t = Driver::Auto)]
    pub driver: Driver,
    /// Run the server alone and print its cost every 5 s until Ctrl-C, for any outside load.
    #[arg(long)]
    pub serve: bool,
}

/// Which program drives the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    Auto,
    Wrk,
    Veil,
}

/// CPU and progress at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    server_ticks: u64,
    postgres_ticks: Option<u64>,
    committed: i64,
}

/// Where each side runs.
struct Cores {
    server: Option<usize>,
    load: Option<usize>,
}

/// What the load generator reported.
struct LoadReport {
    acked: u64,
    errors: u64,
    p50: String,
    p99: String,
}

/// `veil bench cost`.
pub async fn cost(global: &Global, args: CostArgs) -> anyhow::Result<()> {
    let cores = pin_server();
    let scratch = Scratch::create(global).await?;
    let app = scratch.start().await?;
    let outcome = measure(&app, &scratch, &args, &cores).await;
    app.shutdown().await;
    scratch.remove().await?;
    outcome
}

async fn measure(
    app: &RunningApp,
    scratch: &Scratch,
    args: &CostArgs,
    cores: &Cores,
) -> anyhow::Result<()> {
    let backend = app.state.store.backend();
    let postgres = backend == "postgres";
    let addr = app.url.trim_start_matches("http://").to_owned();
    let customers = args.customers.max(1);
    seed_customers(app, customers).await?;
    let script = scratch.dir.join("wrk-webhooks.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let driver = match (args.driver, args.rate) {
        (Driver::Wrk, Some(_)) => anyhow::bail!("wrk cannot pace a load; use --driver veil"),
        (Driver::Wrk, None) => Driver::Wrk,
        (Driver::Auto, None) if on_path("wrk") => Driver::Wrk,
        _ => Driver::Veil,
    };
    println!(
        "veil bench cost: backend {backend}, {customers} known customers, server on cpu {}, load on cpu {}",
        cores.server.map_or("any".into(), |c| c.to_string()),
        cores.load.map_or("any".into(), |c| c.to_string()),
    );
    if args.serve {
        println!(
            "serving on {}; drive it, e.g.: VEIL_BENCH_CUSTOMERS={customers} taskset -c {} wrk -t1 -c64 -d15s -s {} {}",
            app.url,
            cores.load.unwrap_or(0),
            script.display(),
            app.url
        );
        return serve(app, postgres).await;
    }
    println!(
        "load: {} for {:?}, {} connections, {}",
        if driver == Driver::Wrk {
            "wrk -t1"
        } else {
            "veil bench load"
        },
        args.duration,
        args.connections,
        args.rate
            .map_or("saturation".into(), |r| format!("{r} webhooks/s"))
    );
    let run = uuid::Uuid::now_v7().simple().to_string();
    let before = sample(app, postgres).await?;
    let command = match driver {
        Driver::Wrk => wrk_command(&addr, args, &script, customers, &run, cores.load),
        _ => veil_load_command(&addr, args, customers, &run, cores.load)?,
    };
    let load = tokio::task::spawn_blocking(move || run_load(command)).await??;
    let after = sample(app, postgres).await?;
    report(&load, &before, &after)
}

/// Prints the run's figures; fails when a webhook failed or an acknowledged one is missing.
fn report(load: &LoadReport, before: &Sample, after: &Sample) -> anyhow::Result<()> {
    let committed = u64::try_from(after.committed - before.committed).unwrap_or(0);
    let seconds = after.at.duration_since(before.at).as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let rate = committed as f64 / seconds;
    println!(
        "webhooks: {} acknowledged, {committed} committed in {seconds:.1} s: {rate:.0}/s ({} errors)",
        load.acked, load.errors
    );
    println!("latency: p50 {}  p99 {}", load.p50, load.p99);
    print_cost(before, after, committed);
    let complete = load.errors == 0 && committed >= load.acked && load.acked > 0;
    println!(
        "check: {}",
        if complete {
            "every acknowledged webhook is committed, none failed: OK"
        } else {
            "FAILED"
        }
    );
    anyhow::ensure!(
        complete,
        "webhooks failed or acknowledged ones are not committed"
    );
    Ok(())
}

/// Every known customer writes once, so that the measurement sees known contacts only.
async fn seed_customers(app: &RunningApp, customers: usize) -> anyhow::Result<()> {
    let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock) / 1000;
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 64.min(customers);
    for worker in 0..workers {
        let ingestor = app.state.ingestor.clone();
        tasks.spawn(async move {
            for customer in (worker..customers).step_by(workers) {
                let body = webhook_body(customer, &format!("wamid.seed.{customer}"), now);
                let items = crate::whatsapp::webhook::parse(body.as_bytes())?;
                ingestor.submit(items).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// `--serve`: a line every 5 s with traffic in it, until Ctrl-C.
async fn serve(app: &RunningApp, postgres: bool) -> anyhow::Result<()> {
    let mut last = sample(app, postgres).await?;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let now = sample(app, postgres).await?;
        let committed = u64::try_from(now.committed - last.committed).unwrap_or(0);
        if committed > 0 {
            let seconds = now.at.duration_since(last.at).as_secs_f64();
            #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
            let rate = committed as f64 / seconds;
            println!("{committed} webhooks committed in {seconds:.1} s: {rate:.0}/s");
            print_cost(&last, &now, committed);
        }
        last = now;
    }
}

fn print_cost(before: &Sample, after: &Sample, committed: u64) {
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let per_10k = |ticks: u64| {
        let seconds = ticks as f64 / TICKS_PER_SECOND;
        (seconds, seconds * 10_000.0 / (committed.max(1) as f64))
    };
    let (server, server_10k) = per_10k(after.server_ticks.saturating_sub(before.server_ticks));
    println!(
        "server CPU: {server:.2} s = {server_10k:.2} CPU-s per 10,000 webhooks ({:.0} µs each)",
        server_10k * 100.0
    );
    if let (Some(b), Some(a)) = (before.postgres_ticks, after.postgres_ticks) {
        let (pg, pg_10k) = per_10k(a.saturating_sub(b));
        println!(
            "postgres CPU: {pg:.2} s = {pg_10k:.2} CPU-s per 10,000 webhooks; Veil and PostgreSQL together {:.2} ({:.0} µs each)",
            server_10k + pg_10k,
            (server_10k + pg_10k) * 100.0
        );
    }
}

async fn sample(app: &RunningApp, postgres: bool) -> anyhow::Result<Sample> {
    let committed = app.state.store.count_messages().await?;
    Ok(Sample {
        at: Instant::now(),
        server_ticks: process_ticks(Path::new("/proc/self/stat")).unwrap_or(0),
        postgres_ticks: postgres.then(postgres_ticks),
        committed,
    })
}

/// User plus system ticks of the process whose `stat` file this is (every thread, living or
/// exited).
fn process_ticks(stat: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(stat).ok()?;
    ticks_of(&text)
}

/// Fields 14 and 15 of a `/proc/<pid>/stat` line (after the parenthesised command name).
fn ticks_of(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU ticks of every process named `postgres` (the server, its backends and helpers).
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| ticks_of(&stat))
        .sum()
}

/// Pins this whole process (every thread) to the last core, when there are two or more and
/// `taskset` is installed. Threads started later inherit it.
fn pin_server() -> Cores {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores < 2 || !on_path("taskset") {
        return Cores {
            server: None,
            load: None,
        };
    }
    let server = cores - 1;
    let pinned = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &server.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if pinned {
        Cores {
            server: Some(server),
            load: Some(0),
        }
    } else {
        Cores {
            server: None,
            load: None,
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// `taskset -c <core> <program>` when the server was pinned, else the program alone.
fn pinned(program: &Path, core: Option<usize>) -> Command {
    match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn wrk_command(
    addr: &str,
    args: &CostArgs,
    script: &Path,
    customers: usize,
    run: &str,
    core: Option<usize>,
) -> Command {
    let mut command = pinned(&PathBuf::from("wrk"), core);
    command
        .args(["-t1", "--latency"])
        .arg(format!("-c{}", args.connections.max(1)))
        .arg(format!("-d{}s", args.duration.as_secs().max(1)))
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}/"))
        .env("VEIL_BENCH_SECRET", APP_SECRET)
        .env("VEIL_BENCH_CUSTOMERS", customers.to_string())
        .env("VEIL_BENCH_RUN", run);
    command
}

fn veil_load_command(
    addr: &str,
    args: &CostArgs,
    customers: usize,
    run: &str,
    core: Option<usize>,
) -> anyhow::Result<Command> {
    let mut command = pinned(&std::env::current_exe()?, core);
    command
        .args(["bench", "load", "--addr", addr])
        .arg(format!("--duration={}ms", args.duration.as_millis()))
        .arg(format!("--connections={}", args.connections.max(1)))
        .arg(format!("--customers={customers}"))
        .arg(format!("--run=cost.{run}"));
    if let Some(rate) = args.rate {
        command.arg(format!("--rate={rate}"));
    }
    Ok(command)
}

/// Runs the load generator to its end and reads its report (wrk's or `veil bench load`'s).
fn run_load(mut command: Command) -> anyhow::Result<LoadReport> {
    let output = command.output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "the load generator failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    parse_wrk(&text)
        .or_else(|| parse_veil_load(&text))
        .ok_or_else(|| anyhow::anyhow!("cannot read the load generator's report:\n{text}"))
}

/// wrk's `N requests in …`, `Non-2xx or 3xx responses: E`, and the 50% and 99% latency lines.
fn parse_wrk(text: &str) -> Option<LoadReport> {
    let requests: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let errors: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let socket_errors = text.lines().any(|l| l.contains("Socket errors:"));
    let latency = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    Some(LoadReport {
        acked: requests - errors.min(requests),
        errors: errors + u64::from(socket_errors),
        p50: latency("50%"),
        p99: latency("99%"),
    })
}

/// The summary line of `veil bench load`.
fn parse_veil_load(text: &str) -> Option<LoadReport> {
    let line = text.lines().find(|l| l.starts_with("acked "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == name)?;
        words.get(i + 1)?.parse().ok()
    };
    let ms = |us: u64| format!("{:.2}ms", Duration::from_micros(us).as_secs_f64() * 1000.0);
    Some(LoadReport {
        acked: field("acked")?,
        errors: field("errors")?,
        p50: ms(field("p50_us")?),
        p99: ms(field("p99_us")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 9 0";
        assert_eq!(ticks_of(stat), Some(1290));
        assert_eq!(ticks_of("garbage"), None);
    }

    #[test]
    fn wrk_reports_are_read() {
        let text = "Running 15s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n  Latency Distribution\n     50%    3.10ms\n     99%   12.00ms\n  61234 requests in 15.00s, 4.5MB read\n  Non-2xx or 3xx responses: 4\nRequests/sec:   4082.00\n";
        let report = parse_wrk(text).unwrap();
        assert_eq!((report.acked, report.errors), (61_230, 4));
        assert_eq!(
            (report.p50.as_str(), report.p99.as_str()),
            ("3.10ms", "12.00ms")
        );
        let ours =
            parse_veil_load("acked 10 errors 0 p50_us 1500 p99_us 4000 max_us 9000\n").unwrap();
        assert_eq!((ours.acked, ours.p99.as_str()), (10, "4.00ms"));
    }

    /// The wrk script builds the same body as `webhook_body`, so both loads are the same work.
    #[test]
    fn the_wrk_script_sends_the_bench_body() {
        let body = webhook_body(42, "WAMID", 1_700_000_000);
        let template = WRK_SCRIPT
            .split("local template = ")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap();
        let lua: String = template
            .lines()
            .map(|l| l.trim().trim_start_matches(".. "))
            .map(|l| l.trim_matches('\''))
            .collect();
        let expected = lua
            .replace("\\\\", "\\")
            .replacen("%d", "42", 1)
            .replacen("%09d", "000000042", 1)
            .replacen("%d", "42", 1)
            .replacen("%09d", "000000042", 1)
            .replacen("%d", "42", 1)
            .replacen("%s", "WAMID", 1)
            .replacen("%d", "1700000000", 1)
            .replacen("%d", "42", 1);
        assert_eq!(expected, body);
    }
}
