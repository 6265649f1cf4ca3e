//! `veil bench audit`: group-committed appends from many callers, inclusion proofs, a full verify.

use std::sync::Arc;
use std::time::Instant;

use super::{micros, percentile};
use crate::cli::setup::{Global, load_config};
use crate::clock::SystemClock;
use crate::config::Require;

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
    crate::cli::setup::ensure_sqlite_dir(&config)?;
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
