//! Benchmarks of the hot paths, as commands so they run against the real binary: `veil bench
//! ingest` (signed webhooks over HTTP, durably committed), `pages`, `crypto`, `auth` and `audit`.
//! They print figures; no test asserts on time.

mod audit;
mod cost;
mod crypto;
mod ingest;
mod load;
mod pages;

pub use audit::{AuditArgs, audit};
pub use cost::{CostArgs, cost};
pub use crypto::{auth, crypto};
pub use ingest::{IngestArgs, ingest};
pub use load::{LoadArgs, load, webhook_body};
pub use pages::{PagesArgs, pages};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::SystemClock;

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

/// Starts Veil for a command that works on a database (benchmarks, `veil seed`): on
/// 127.0.0.1, no background workers, a Graph API address nothing listens on (nothing is sent).
pub(crate) async fn start_offline(
    mut config: crate::config::Config,
) -> anyhow::Result<crate::app::RunningApp> {
    crate::cli::setup::ensure_sqlite_dir(&config)?;
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

/// A fresh database for one benchmark run: a SQLite file in a temporary folder, or a new
/// PostgreSQL database on the server `--database-url` names, dropped afterwards.
struct Scratch {
    dir: std::path::PathBuf,
    database_url: String,
    drop_after: Option<(String, String)>,
}

impl Scratch {
    async fn create(global: &crate::cli::setup::Global) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("veil-bench-{}", uuid::Uuid::now_v7()));
        let (database_url, drop_after) = match global.database_url.as_deref() {
            Some(url) if url.starts_with("postgres") => {
                let name = format!("veil_bench_{}", uuid::Uuid::now_v7().simple());
                (
                    crate::store::create_database(url, &name).await?,
                    Some((url.to_owned(), name)),
                )
            }
            _ => (format!("sqlite://{}", dir.join("veil.db").display()), None),
        };
        Ok(Self {
            dir,
            database_url,
            drop_after,
        })
    }

    /// Starts Veil offline on this database, signing webhooks with [`load::APP_SECRET`].
    async fn start(&self) -> anyhow::Result<crate::app::RunningApp> {
        let global = crate::cli::setup::Global {
            config: None,
            data_dir: Some(self.dir.clone()),
            database_url: Some(self.database_url.clone()),
        };
        let mut config = crate::cli::setup::load_config(
            &global,
            Some(([127, 0, 0, 1], 0).into()),
            crate::config::Require::StorageOnly,
        )?;
        config.whatsapp.app_secret = secrecy::SecretString::from(load::APP_SECRET.to_owned());
        start_offline(config).await
    }

    async fn remove(self) -> anyhow::Result<()> {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin_url, name)) = self.drop_after {
            crate::store::drop_database(&admin_url, &name).await?;
        }
        Ok(())
    }
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
}
