//! What several Veil nodes on one database share besides the data: leases for jobs that must run
//! once, the send pacing buckets, and change signals between nodes (PostgreSQL `LISTEN/NOTIFY`).

use async_trait::async_trait;

use super::pool::{BeginWrite as _, Pool, on_pool};
use super::{SqlStore, StoreError, StoreResult};

/// The `LISTEN/NOTIFY` channel that carries change signals between nodes.
const CHANGES_CHANNEL: &str = "veil_changes";

/// What a pacing decision answers: new bucket times to store, or how long to wait (nothing stored).
pub type PaceAnswer = Result<Vec<i64>, i64>;

#[async_trait]
pub trait NodeStore {
    /// Takes or renews the lease on job `name` for `holder` until `until`; true when `holder` holds
    /// it now (it held it already, or the last holder's lease ran out before `now`).
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64)
    -> StoreResult<bool>;
    /// Gives up a lease `holder` holds (on shutdown), so that another node takes over at once.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
    /// Reads the times of `buckets` (0 for a bucket never used), asks `decide`, and stores the times
    /// it returns, in one transaction that holds the buckets' rows: two nodes never both spend the
    /// same capacity.
    async fn pace(
        &self,
        buckets: &[String],
        decide: &(dyn for<'t> Fn(&'t [i64]) -> PaceAnswer + Send + Sync),
    ) -> StoreResult<PaceAnswer>;
    /// Sets one bucket's time (Meta refused a send for its pace: the next one waits a refill).
    async fn set_pace(&self, bucket: &str, tat_us: i64) -> StoreResult<()>;
    /// Deletes the buckets whose time is at or before `now_us`: such a bucket paces exactly like
    /// one never used (a send moves its time to now plus one interval either way). Returns how
    /// many. A bucket being paced meanwhile is locked, and is kept if its new time is later.
    async fn prune_pacing(&self, now_us: i64) -> StoreResult<u64>;
    /// Sends change signals to every other node (PostgreSQL `NOTIFY`; nothing on SQLite, which
    /// serves one node).
    async fn publish_changes(&self, payloads: &[String]) -> StoreResult<()>;
    /// Listens for other nodes' change signals; `None` on SQLite.
    async fn listen_changes(&self) -> StoreResult<Option<ChangeFeed>>;
}

/// Change signals from other nodes, as they arrive.
#[derive(Debug)]
pub struct ChangeFeed {
    listener: sqlx::postgres::PgListener,
}

impl ChangeFeed {
    /// The next signal. `Ok(None)` means the connection was lost and has been re-established:
    /// signals sent meanwhile are gone, so listeners should treat it as "everything may have
    /// changed".
    pub async fn next(&mut self) -> StoreResult<Option<String>> {
        Ok(self
            .listener
            .try_recv()
            .await?
            .map(|n| n.payload().to_owned()))
    }
}

#[async_trait]
impl NodeStore for SqlStore {
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        let taken: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO job_leases (name, holder, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
             WHERE job_leases.holder = excluded.holder OR job_leases.lease_until < $4 \
             RETURNING holder")
            .bind(name).bind(holder).bind(until).bind(now)
            .fetch_optional(pool).await?);
        Ok(taken.as_deref() == Some(holder))
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2")
            .bind(name).bind(holder).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn pace(
        &self,
        buckets: &[String],
        decide: &(dyn for<'t> Fn(&'t [i64]) -> PaceAnswer + Send + Sync),
    ) -> StoreResult<PaceAnswer> {
        // Rows are locked in name order, so two nodes pacing overlapping buckets cannot deadlock.
        let mut order: Vec<usize> = (0..buckets.len()).collect();
        order.sort_by(|&a, &b| buckets.get(a).cmp(&buckets.get(b)));
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut times = vec![0i64; buckets.len()];
            for &i in &order {
                let bucket = buckets.get(i).map_or("", String::as_str);
                // Creates the bucket or, through a no-op update, locks it on PostgreSQL until
                // commit (SQLite's write transaction holds the whole database already).
                let tat: i64 = sqlx::query_scalar("INSERT INTO pacing (bucket, tat_us) VALUES ($1, 0) \
                     ON CONFLICT (bucket) DO UPDATE SET tat_us = pacing.tat_us RETURNING tat_us")
                    .bind(bucket).fetch_one(&mut *tx).await?;
                if let Some(slot) = times.get_mut(i) {
                    *slot = tat;
                }
            }
            let answer = decide(&times);
            if let Ok(fresh) = &answer {
                if fresh.len() != buckets.len() {
                    return Err(StoreError::Writer("pacing answer does not match its buckets".into()));
                }
                for (bucket, tat) in buckets.iter().zip(fresh) {
                    sqlx::query("UPDATE pacing SET tat_us = $1 WHERE bucket = $2")
                        .bind(tat).bind(bucket).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(answer)
        })
    }

    async fn set_pace(&self, bucket: &str, tat_us: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO pacing (bucket, tat_us) VALUES ($1, $2) ON CONFLICT (bucket) DO UPDATE SET tat_us = excluded.tat_us")
            .bind(bucket).bind(tat_us).execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn prune_pacing(&self, now_us: i64) -> StoreResult<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM pacing WHERE tat_us <= $1")
            .bind(now_us).execute(pool).await?.rows_affected()),
        )
    }

    async fn publish_changes(&self, payloads: &[String]) -> StoreResult<()> {
        if let Pool::Postgres(pool) = &self.pool
            && !payloads.is_empty()
        {
            sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(CHANGES_CHANNEL)
                .bind(payloads)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    async fn listen_changes(&self) -> StoreResult<Option<ChangeFeed>> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(ChangeFeed { listener }))
    }
}
