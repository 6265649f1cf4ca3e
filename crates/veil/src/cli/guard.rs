//! `veil guard scan` (JSON lines in, findings out, for comparing Veil's guard with other tools
//! on anyone's data) and `veil guard eval` (the labelled corpus, accuracy and speed).

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::setup::{Global, load_config};
use crate::config::{GuardConfig, Require};
use crate::guard::Scanner;
use crate::guard::corpus;
use crate::guard::policy::{self, Direction, Policy};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DirectionArg {
    Inbound,
    Outbound,
}

/// Options of `veil guard scan`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// Which policy column gives each finding's action: messages from customers or to them.
    #[arg(long, value_enum, default_value = "inbound")]
    pub direction: DirectionArg,
}

/// Options of `veil guard eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Seed of the generated corpus (the same seed gives the same corpus).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Messages in the corpus.
    #[arg(long, default_value_t = 12_000)]
    pub messages: usize,
    /// How long to measure scanning speed.
    #[arg(long, default_value = "3", value_parser = parse_seconds)]
    pub seconds: Duration,
    /// Also write the corpus as JSON lines (`id`, `lang`, `text`, `labels`) to this file, for
    /// running other tools over it with `veil guard scan`'s input format.
    #[arg(long)]
    pub write: Option<std::path::PathBuf>,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("not a number of seconds: {text}"))
}

#[derive(Serialize)]
struct ScanLine<'a> {
    id: serde_json::Value,
    findings: Vec<policy::Decided>,
    risk: &'a str,
}

#[derive(Serialize)]
struct ErrorLine {
    id: serde_json::Value,
    error: String,
}

/// Reads `{"id": …, "text": …}` lines from stdin and writes one result line per input line.
pub fn scan(global: &Global, args: &ScanArgs) -> anyhow::Result<()> {
    let config = load_config(global, None, Require::StorageOnly)?;
    let scanner = crate::guard::scanner(&config.guard);
    let policy = Policy::default();
    let direction = match args.direction {
        DirectionArg::Inbound => Direction::Inbound,
        DirectionArg::Outbound => Direction::Outbound,
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&line);
        let (id, text) = match &parsed {
            Ok(v) => (
                v.get("id").cloned().unwrap_or(serde_json::Value::Null),
                v.get("text").and_then(serde_json::Value::as_str),
            ),
            Err(_) => (serde_json::Value::Null, None),
        };
        let Some(text) = text else {
            let error = ErrorLine {
                id,
                error: "expected a JSON object with a string \"text\"".to_owned(),
            };
            serde_json::to_writer(&mut out, &error)?;
            out.write_all(b"\n")?;
            continue;
        };
        let findings = scanner.scan(text);
        // Offsets refer to the input text: nothing is masked here.
        let decided = findings
            .iter()
            .map(|f| policy::Decided {
                kind: f.kind,
                start: f.start,
                end: f.end,
                action: policy.action(f.kind, direction),
                reasons: f.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
            })
            .collect();
        let line = ScanLine {
            id,
            findings: decided,
            risk: crate::guard::Risk::of(&findings).as_str(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct CorpusLine<'a> {
    id: usize,
    lang: &'a str,
    text: &'a str,
    labels: Vec<serde_json::Value>,
}

fn label_json(p: &corpus::Planted) -> serde_json::Value {
    let (label, kind) = match p.label {
        corpus::Label::Is(k) => ("is", Some(k.as_str())),
        corpus::Label::Invalid(k) => ("invalid", Some(k.as_str())),
        corpus::Label::BenignNumber => ("benign_number", None),
        corpus::Label::BenignLink => ("benign_link", None),
        corpus::Label::BenignMention => ("benign_mention", None),
    };
    serde_json::json!({"label": label, "kind": kind, "start": p.start, "end": p.end})
}

/// Generates the corpus, prints accuracy per detector and the scanner's speed on one core.
/// Fails when an accuracy bar of the issue is not met.
pub fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let samples = corpus::generate(args.seed, args.messages);
    if let Some(path) = &args.write {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for s in &samples {
            let line = CorpusLine {
                id: s.id,
                lang: s.lang,
                text: &s.text,
                labels: s.planted.iter().map(label_json).collect(),
            };
            serde_json::to_writer(&mut file, &line)?;
            file.write_all(b"\n")?;
        }
        file.flush()?;
    }
    let scanner = crate::guard::scanner(&GuardConfig {
        protected_domains: vec!["acme-shop.com".to_owned()],
        ..GuardConfig::default()
    });
    let accuracy = corpus::evaluate(&scanner, &samples);
    let bytes: usize = samples.iter().map(|s| s.text.len()).sum();
    println!(
        "corpus: {} messages (seed {}), {} languages, {} bytes",
        samples.len(),
        args.seed,
        corpus::LANGS.len(),
        bytes
    );
    print!("{}", accuracy.table());

    speed(&scanner, &samples, args.seconds);
    let unmet = accuracy.unmet_bars();
    if unmet.is_empty() {
        println!(
            "bars: met (checksum recall >= 0.99, benign numbers <= 1%, phishing >= 90% with <= 2% false alarms)"
        );
        Ok(())
    } else {
        anyhow::bail!("bars not met: {}", unmet.join("; "))
    }
}

/// Scans `texts` over and over for at least `seconds` on this thread: messages/s and MB/s.
#[allow(clippy::cast_precision_loss, reason = "figures for people")]
fn rate(scanner: &Scanner, texts: &[&str], seconds: Duration) -> (f64, f64) {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let started = Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < seconds || rounds == 0 {
        for text in texts {
            std::hint::black_box(scanner.scan(text));
        }
        rounds += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    (
        texts.len() as f64 * rounds as f64 / elapsed,
        bytes as f64 * rounds as f64 / 1e6 / elapsed,
    )
}

/// Prints the scanner's speed over the corpus, over ordinary chat, over the corpus joined into
/// 64 KiB messages, and on adversarial 64 KiB messages.
fn speed(scanner: &Scanner, samples: &[corpus::Sample], seconds: Duration) {
    let texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    let (messages, mb) = rate(scanner, &texts, seconds);
    println!(
        "speed (one core, this corpus: a value in almost every message): {messages:.0} messages/s, {mb:.1} MB/s"
    );
    // Ordinary chat, where nothing is found: the common case on a live inbox.
    let ordinary: Vec<&str> = corpus::ORDINARY
        .iter()
        .copied()
        .cycle()
        .take(20_000)
        .collect();
    let (messages, mb) = rate(scanner, &ordinary, seconds);
    println!(
        "speed (one core, ordinary chat with nothing to find): {messages:.0} messages/s, {mb:.1} MB/s"
    );
    // The corpus as long messages, where per-message costs vanish.
    let mut long = Vec::new();
    let mut current = String::new();
    for text in &texts {
        if current.len() + text.len() + 1 > 65_536 {
            long.push(std::mem::take(&mut current));
        }
        current.push_str(text);
        current.push('\n');
    }
    long.push(current);
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let (_, mb) = rate(scanner, &long, seconds);
    println!("speed (one core, this corpus joined into 64 KiB messages): {mb:.1} MB/s");
    // Long adversarial messages: 64 KiB of one repeated pattern each.
    let mut worst = (Duration::ZERO, "");
    for unit in [
        "4",
        "4 ",
        "a@",
        "http://a.",
        "xn--",
        "DE89 ",
        "code ",
        "1.",
        "send me the code ",
    ] {
        let text = unit.repeat(65_536 / unit.len());
        let t = Instant::now();
        std::hint::black_box(scanner.scan(&text));
        let took = t.elapsed();
        if took > worst.0 {
            worst = (took, unit);
        }
    }
    println!(
        "64 KiB adversarial messages: slowest {:.2} ms (pattern {:?})",
        worst.0.as_secs_f64() * 1e3,
        worst.1
    );
}

/// `veil guard rescreen`: every stored message under the policy in force, audited.
pub async fn rescreen(global: &Global) -> anyhow::Result<()> {
    let config = load_config(global, None, Require::StorageOnly)?;
    crate::cli::setup::ensure_sqlite_dir(&config)?;
    let store = crate::store::open(config.database_url.expose()).await?;
    store.migrate().await?;
    let keys = crate::keys::Keys::load(&config.key_file, store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("{e} (create one with `veil keys init`)"))?;
    let guard = crate::guard::Guard::new(crate::guard::scanner(&config.guard));
    crate::inbox::screen::load_policy(store.as_ref(), &guard).await?;
    let audit = crate::audit::AuditLog::start(
        store.clone(),
        std::sync::Arc::new(crate::clock::SystemClock),
        &crate::audit::AuditSetup::from_config(&config),
    )
    .await?;
    // The entry comes first: a re-screen that cannot be recorded does not run.
    audit
        .record(crate::audit::AuditEvent::system(
            "cli",
            "guard.rescreen",
            "messages",
        ))
        .await?;
    let report = crate::inbox::screen::rescreen(store.as_ref(), &keys, &guard).await?;
    println!(
        "re-screened {} messages: {} changed, {} of erased contacts skipped",
        report.messages, report.changed, report.erased
    );
    Ok(())
}
