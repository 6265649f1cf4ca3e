//! The audit log's storage: entries (the tree's leaves), perfect subtree nodes, the head row that
//! serialises appenders, signed checkpoints, and the alerts raised over the log.

use std::fmt::Write as _;

use async_trait::async_trait;

use super::audit_index::{KEY_BATCH, KEY_ENTRIES, MOVE_KEYED};
use super::pool::{BeginWrite as _, Pool, on_pool};
use super::{SqlStore, StoreResult};

/// One audit entry as stored. `leaf_hash` is SHA-256(0x00 || canonical entry).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub outcome: String,
    pub reason: String,
    pub leaf_hash: Vec<u8>,
}

/// One group of entries appended at once.
#[derive(Debug)]
pub struct AuditAppend {
    /// The size the writer built on; the append is refused if another writer got there first.
    pub old_size: i64,
    pub new_size: i64,
    /// The new right edge of the tree.
    pub frontier: Vec<u8>,
    pub rows: Vec<AuditRow>,
    /// Perfect subtrees completed by these entries: (level ≥ 1, index, hash).
    pub nodes: Vec<(i64, i64, Vec<u8>)>,
}

/// A signed tree head as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckpointRow {
    pub size: i64,
    pub at: i64,
    pub note: String,
}

/// What the auditor pages filter on. Every field is optional; results come newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only entries before this sequence number (paging).
    pub before_seq: Option<i64>,
}

/// Whose entries an alert rule counts.
#[derive(Debug, Clone, Copy)]
pub enum AuditKey<'a> {
    Actor(&'a str),
    Target(&'a str),
}

/// What an alert rule counts: entries by an actor or about a target, of some actions, in
/// `since..until`.
#[derive(Debug, Clone)]
pub struct AuditCount<'a> {
    pub key: AuditKey<'a>,
    pub actions: &'a [&'a str],
    pub since: i64,
    pub until: i64,
}

/// An alert and its delivery state (`none`, `pending`, `sent`, `failed` per channel).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: String,
    pub at: i64,
    pub rule: String,
    pub actor: String,
    pub detail: String,
    pub seq: i64,
    pub email_state: String,
    pub webhook_state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

/// Bytes of row data per PostgreSQL insert. This was 7 KiB while sqlx 0.9.0 left Nagle's algorithm
/// on: a larger Bind message then waited 40 ms for the server's delayed ACK (48 rows a statement
/// gave 37,500 appends/s, 100 rows 2,400/s). With `TCP_NODELAY` restored (`vendor/README.md`) a
/// whole group goes in one statement; the cap bounds one statement's memory.
const AUDIT_CHUNK_BYTES: usize = 1024 * 1024;

/// Splits rows into runs of about `AUDIT_CHUNK_BYTES` (each array element also costs a 4-byte
/// length).
fn audit_chunks(rows: &[AuditRow]) -> Vec<&[AuditRow]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let size = 16
            + 9 * 4
            + r.actor.len()
            + r.action.len()
            + r.target.len()
            + r.ip.len()
            + r.outcome.len()
            + r.reason.len()
            + r.leaf_hash.len();
        if i > start && bytes + size > AUDIT_CHUNK_BYTES {
            chunks.extend(rows.get(start..i));
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    chunks.extend(rows.get(start..).filter(|rest| !rest.is_empty()));
    chunks
}
const AUDIT_COLUMNS: &str = "seq, at, actor, action, target, ip, outcome, reason, leaf_hash";
const AUDIT_COLUMNS_L: &str =
    "l.seq, l.at, l.actor, l.action, l.target, l.ip, l.outcome, l.reason, l.leaf_hash";

/// The entries not keyed yet.
const UNKEYED: &str = "seq >= (SELECT keyed FROM audit_head WHERE id = 1)";

/// The search term of an actor or a target in `audit_keys`.
fn term(prefix: &str, value: &str) -> String {
    format!("{prefix}:{value}")
}
const ALERT_COLUMNS: &str = "id, at, rule, actor, detail, seq, email_state, webhook_state, attempts, \
     next_attempt_at, acknowledged_by, acknowledged_at";
#[async_trait]
pub trait AuditStore {
    /// The tree's size and right edge.
    async fn audit_head(&self) -> StoreResult<(i64, Vec<u8>)>;
    /// Appends entries and nodes and moves the head, in one transaction. `false` (and nothing
    /// written) when the head is no longer at `old_size`.
    async fn append_audit(&self, append: AuditAppend) -> StoreResult<bool>;
    /// Entries `from_seq..`, in order.
    async fn audit_range(&self, from_seq: i64, limit: i64) -> StoreResult<Vec<AuditRow>>;
    /// Stored perfect nodes among `wanted` ((level, index); level 0 are the entries' leaf hashes).
    async fn audit_nodes(&self, wanted: &[(u32, u64)]) -> StoreResult<Vec<(i64, i64, Vec<u8>)>>;
    /// Stored perfect nodes of one level with index in `from..=to`: (index, hash).
    async fn audit_nodes_between(
        &self,
        level: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<(i64, Vec<u8>)>>;
    async fn insert_checkpoint(&self, size: i64, at: i64, note: &str) -> StoreResult<bool>;
    /// Every checkpoint, smallest first.
    async fn checkpoints(&self) -> StoreResult<Vec<CheckpointRow>>;
    async fn latest_checkpoint(&self) -> StoreResult<Option<CheckpointRow>>;
    async fn search_audit(&self, filter: &AuditFilter, limit: i64) -> StoreResult<Vec<AuditRow>>;
    async fn count_audit(&self, count: &AuditCount<'_>) -> StoreResult<i64>;
    /// For verification: keyed entries whose two search keys are present and exact, the number
    /// of keyed entries, and the number of keys (the keys are right when the first equals the
    /// second and the third is twice that).
    async fn audit_keys_check(&self) -> StoreResult<(i64, i64, i64)>;
    /// Distinct client addresses of an actor's entries of some actions before `before_seq`.
    async fn audit_ips(
        &self,
        actor: &str,
        actions: &[&str],
        before_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    /// `false` when an alert with this id exists.
    async fn insert_alert(&self, alert: &AlertRow) -> StoreResult<bool>;
    /// Whether `rule` already fired for `actor` since `since`.
    async fn alert_since(&self, rule: &str, actor: &str, since: i64) -> StoreResult<bool>;
    async fn alerts(&self, limit: i64) -> StoreResult<Vec<AlertRow>> {
        self.alerts_before(None, limit).await
    }
    /// Newest first, after the cursor `before` (time and id: equal times neither skip nor repeat).
    async fn alerts_before(
        &self,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<AlertRow>>;
    async fn count_open_alerts(&self) -> StoreResult<i64>;
    /// Alerts with a pending delivery due by `now`.
    async fn due_alerts(&self, now: i64, limit: i64) -> StoreResult<Vec<AlertRow>>;
    async fn update_alert_delivery(&self, alert: &AlertRow) -> StoreResult<()>;
    async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> StoreResult<bool>;
    /// Moves a setting from `old` to `new` only if it still holds `old` (absent: `None`).
    async fn swap_setting(
        &self,
        name: &str,
        old: Option<&str>,
        new: &str,
        now: i64,
    ) -> StoreResult<bool>;
}

/// `$first, $first+1, …`: the placeholders of an `IN (...)` list. Numbered on both backends,
/// so that they follow the statement's other numbered parameters (a short list: the `?` form
/// is only for statements with thousands of parameters).
fn in_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keys entries `from..to` and moves `keyed` (see `KEY_BATCH`).
async fn key_entries_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    from: i64,
    to: i64,
) -> StoreResult<()> {
    sqlx::query(KEY_ENTRIES)
        .bind(from)
        .bind(to)
        .execute(&mut **tx)
        .await?;
    sqlx::query(MOVE_KEYED).bind(to).execute(&mut **tx).await?;
    Ok(())
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn audit_head(&self) -> StoreResult<(i64, Vec<u8>)> {
        on_pool!(self, pool => Ok(sqlx::query_as("SELECT size, frontier FROM audit_head WHERE id = 1")
            .fetch_one(pool).await?))
    }

    async fn append_audit(&self, append: AuditAppend) -> StoreResult<bool> {
        let pool = match &self.pool {
            // SQLite: the writer thread, with prepared statements (see `sqlite_writer`).
            Pool::Sqlite(_, writer) => return writer.append_audit(append).await,
            Pool::Postgres(pool) => pool,
        };
        // PostgreSQL: the head first (its row lock makes a second appender wait here and then
        // find the size moved), then one statement per table with a column of arrays each.
        let mut tx = pool.begin_write().await?;
        let keyed: Option<i64> = sqlx::query_scalar(
            "UPDATE audit_head SET size = $1, frontier = $2 WHERE id = 1 AND size = $3 RETURNING keyed",
        )
        .bind(append.new_size)
        .bind(&append.frontier)
        .bind(append.old_size)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(keyed) = keyed else {
            tx.rollback().await?;
            return Ok(false);
        };
        // Chunks whose Bind message stays small (see `AUDIT_CHUNK_BYTES`).
        for rows in audit_chunks(&append.rows) {
            let column = |f: fn(&AuditRow) -> &String| rows.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, action, target, ip, outcome, reason, leaf_hash) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                 $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BYTEA[])",
            )
            .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
            .bind(column(|r| &r.actor))
            .bind(column(|r| &r.action))
            .bind(column(|r| &r.target))
            .bind(column(|r| &r.ip))
            .bind(column(|r| &r.outcome))
            .bind(column(|r| &r.reason))
            .bind(rows.iter().map(|r| r.leaf_hash.as_slice()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        // A node is 3 values and 32 bytes of hash.
        for nodes in append.nodes.chunks(16_384) {
            sqlx::query(
                "INSERT INTO audit_nodes (level, idx, hash) \
                 SELECT * FROM UNNEST($1::INT[], $2::BIGINT[], $3::BYTEA[])",
            )
            .bind(
                nodes
                    .iter()
                    .map(|n| i32::try_from(n.0).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .bind(nodes.iter().map(|n| n.1).collect::<Vec<_>>())
            .bind(nodes.iter().map(|n| n.2.as_slice()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        if append.new_size - keyed >= KEY_BATCH {
            key_entries_postgres(&mut tx, keyed, append.new_size).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn audit_range(&self, from_seq: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2")))
            .bind(from_seq).bind(limit).fetch_all(pool).await?))
    }

    async fn audit_nodes(&self, wanted: &[(u32, u64)]) -> StoreResult<Vec<(i64, i64, Vec<u8>)>> {
        // Two queries: leaves from the entries, the rest from the nodes (a proof needs ~2·log n).
        let mut leaves = Vec::new();
        let mut nodes = Vec::new();
        for &(level, index) in wanted {
            let Ok(index) = i64::try_from(index) else {
                continue;
            };
            if level == 0 {
                leaves.push(index);
            } else {
                nodes.push((i64::from(level), index));
            }
        }
        let mut found = Vec::with_capacity(wanted.len());
        if !leaves.is_empty() {
            let sql = format!(
                "SELECT CAST(0 AS BIGINT), seq, leaf_hash FROM audit_log WHERE seq IN ({})",
                in_list(1, leaves.len())
            );
            let rows: Vec<(i64, i64, Vec<u8>)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for seq in &leaves {
                    query = query.bind(seq);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows);
        }
        if !nodes.is_empty() {
            let pairs: Vec<String> = (0..nodes.len())
                .map(|k| format!("(level = ${} AND idx = ${})", 2 * k + 1, 2 * k + 2))
                .collect();
            let sql = format!(
                "SELECT CAST(level AS BIGINT), idx, hash FROM audit_nodes WHERE {}",
                pairs.join(" OR ")
            );
            let rows: Vec<(i64, i64, Vec<u8>)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for (level, idx) in &nodes {
                    query = query.bind(level).bind(idx);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    async fn audit_nodes_between(
        &self,
        level: i64,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<(i64, Vec<u8>)>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT idx, hash FROM audit_nodes WHERE level = $1 AND idx >= $2 AND idx <= $3")
            .bind(level).bind(from).bind(to).fetch_all(pool).await?))
    }

    async fn insert_checkpoint(&self, size: i64, at: i64, note: &str) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "INSERT INTO audit_checkpoints (size, at, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING")
            .bind(size).bind(at).bind(note).execute(pool).await?.rows_affected() == 1))
    }

    async fn checkpoints(&self) -> StoreResult<Vec<CheckpointRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as("SELECT size, at, note FROM audit_checkpoints ORDER BY size")
            .fetch_all(pool).await?))
    }

    async fn latest_checkpoint(&self) -> StoreResult<Option<CheckpointRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT size, at, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(pool).await?))
    }

    async fn search_audit(&self, filter: &AuditFilter, limit: i64) -> StoreResult<Vec<AuditRow>> {
        // Only the clauses the filter uses, each a bound parameter, numbered in binding order:
        // the search term (if an actor or target is given), actor, action, target, from, to,
        // before, limit.
        let term = match (&filter.actor, &filter.target) {
            (Some(actor), _) => Some(term("a", actor)),
            (None, Some(target)) => Some(term("t", target)),
            (None, None) => None,
        };
        let mut n = usize::from(term.is_some());
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        // (column, operator, parameter, whether `audit_keys` holds the column too).
        let mut used = Vec::new();
        for (on, column, op, keyed) in [
            (filter.actor.is_some(), "actor", "=", false),
            (filter.action.is_some(), "action", "=", true),
            (filter.target.is_some(), "target", "=", false),
            (filter.from.is_some(), "at", ">=", true),
            (filter.to.is_some(), "at", "<", true),
            (filter.before_seq.is_some(), "seq", "<", true),
        ] {
            if on {
                used.push((column, op, next(), keyed));
            }
        }
        let limit_at = next();
        let clauses = |keys: bool| {
            used.iter()
                .fold(String::new(), |mut sql, (column, op, param, keyed)| {
                    let table = if keys && *keyed { "k" } else { "l" };
                    let _ = write!(sql, " AND {table}.{column} {op} {param}");
                    sql
                })
        };
        let sql = if term.is_some() {
            // The keyed entries newest first from the term's keys (`at` grows with `seq`), and
            // the unkeyed tail; one statement sees one snapshot of both.
            format!(
                "SELECT {AUDIT_COLUMNS} FROM (SELECT {AUDIT_COLUMNS_L} FROM audit_keys k \
                 JOIN audit_log l ON l.seq = k.seq WHERE k.term = $1{} \
                 ORDER BY k.at DESC, k.seq DESC LIMIT {limit_at}) AS keyed \
                 UNION ALL SELECT {AUDIT_COLUMNS} FROM (SELECT {AUDIT_COLUMNS_L} FROM audit_log l \
                 WHERE l.{UNKEYED}{} ORDER BY l.seq DESC LIMIT {limit_at}) AS tail \
                 ORDER BY seq DESC LIMIT {limit_at}",
                clauses(true),
                clauses(false)
            )
        } else {
            format!(
                "SELECT {AUDIT_COLUMNS_L} FROM audit_log l WHERE 1 = 1{} ORDER BY l.seq DESC LIMIT {limit_at}",
                clauses(false)
            )
        };
        on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql));
            for value in [&term, &filter.actor, &filter.action, &filter.target].into_iter().flatten() {
                query = query.bind(value);
            }
            for value in [filter.from, filter.to, filter.before_seq].into_iter().flatten() {
                query = query.bind(value);
            }
            Ok(query.bind(limit).fetch_all(pool).await?)
        })
    }

    async fn count_audit(&self, count: &AuditCount<'_>) -> StoreResult<i64> {
        // $1 since, $2 until, $3 the term, $4 the actor or target, then the actions.
        let (term, column, value) = match count.key {
            AuditKey::Actor(actor) => (term("a", actor), "actor", actor),
            AuditKey::Target(target) => (term("t", target), "target", target),
        };
        let actions = if count.actions.is_empty() {
            String::new()
        } else {
            format!(" AND action IN ({})", in_list(5, count.actions.len()))
        };
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM audit_keys WHERE term = $3 AND at >= $1 AND at < $2{actions}) \
             + (SELECT COUNT(*) FROM audit_log WHERE {UNKEYED} AND {column} = $4 AND at >= $1 AND at < $2{actions})"
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .bind(count.since).bind(count.until).bind(&term).bind(value);
            for action in count.actions {
                query = query.bind(*action);
            }
            Ok(query.fetch_one(pool).await?)
        })
    }

    async fn audit_ips(
        &self,
        actor: &str,
        actions: &[&str],
        before_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        // $1 the term, $2 before, $3 the actor, then the actions and the limit.
        let actions_clause = |table: &str| {
            if actions.is_empty() {
                String::new()
            } else {
                format!(" AND {table}.action IN ({})", in_list(4, actions.len()))
            }
        };
        let sql = format!(
            "SELECT DISTINCT ip FROM (SELECT l.ip FROM audit_keys k JOIN audit_log l ON l.seq = k.seq \
             WHERE k.term = $1 AND k.seq < $2{} \
             UNION ALL SELECT l.ip FROM audit_log l WHERE l.{UNKEYED} AND l.actor = $3 AND l.seq < $2{}) AS ips \
             LIMIT ${}",
            actions_clause("k"),
            actions_clause("l"),
            4 + actions.len()
        );
        on_pool!(self, pool => {
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                .bind(term("a", actor)).bind(before_seq).bind(actor);
            for action in actions {
                query = query.bind(*action);
            }
            Ok(query.bind(limit).fetch_all(pool).await?)
        })
    }

    async fn audit_keys_check(&self) -> StoreResult<(i64, i64, i64)> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM audit_log l WHERE l.seq < h.keyed \
               AND EXISTS (SELECT 1 FROM audit_keys k WHERE k.term = 'a:' || l.actor AND k.at = l.at AND k.seq = l.seq AND k.action = l.action) \
               AND EXISTS (SELECT 1 FROM audit_keys k WHERE k.term = 't:' || l.target AND k.at = l.at AND k.seq = l.seq AND k.action = l.action)), \
             h.keyed, (SELECT COUNT(*) FROM audit_keys) FROM audit_head h WHERE h.id = 1")
            .fetch_one(pool).await?))
    }

    async fn insert_alert(&self, a: &AlertRow) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO NOTHING")))
            .bind(&a.id).bind(a.at).bind(&a.rule).bind(&a.actor).bind(&a.detail).bind(a.seq)
            .bind(&a.email_state).bind(&a.webhook_state).bind(a.attempts).bind(a.next_attempt_at)
            .bind(&a.acknowledged_by).bind(a.acknowledged_at)
            .execute(pool).await?.rows_affected() == 1))
    }

    async fn alert_since(&self, rule: &str, actor: &str, since: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM alerts WHERE rule = $1 AND actor = $2 AND at >= $3")
            .bind(rule).bind(actor).bind(since).fetch_one(pool).await? > 0))
    }

    async fn alerts_before(
        &self,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<AlertRow>> {
        let (at, id) = before.unwrap_or((i64::MAX, "\u{10ffff}"));
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE (at < $2 OR (at = $2 AND id < $3)) \
             ORDER BY at DESC, id DESC LIMIT $1")))
            .bind(limit).bind(at).bind(id).fetch_all(pool).await?))
    }

    async fn count_open_alerts(&self) -> StoreResult<i64> {
        on_pool!(self, pool => Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM alerts WHERE acknowledged_at IS NULL").fetch_one(pool).await?))
    }

    async fn due_alerts(&self, now: i64, limit: i64) -> StoreResult<Vec<AlertRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE (email_state = 'pending' OR webhook_state = 'pending') \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2")))
            .bind(now).bind(limit).fetch_all(pool).await?))
    }

    async fn update_alert_delivery(&self, a: &AlertRow) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE alerts SET email_state = $1, webhook_state = $2, attempts = $3, next_attempt_at = $4 WHERE id = $5")
            .bind(&a.email_state).bind(&a.webhook_state).bind(a.attempts).bind(a.next_attempt_at).bind(&a.id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(sqlx::query(
            "UPDATE alerts SET acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3 AND acknowledged_at IS NULL")
            .bind(by).bind(at).bind(id).execute(pool).await?.rows_affected() == 1))
    }

    async fn swap_setting(
        &self,
        name: &str,
        old: Option<&str>,
        new: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, pool => Ok(match old {
            Some(old) => sqlx::query("UPDATE settings SET value = $1, updated_at = $2 WHERE name = $3 AND value = $4")
                .bind(new).bind(now).bind(name).bind(old).execute(pool).await?.rows_affected() == 1,
            None => sqlx::query("INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(name).bind(new).bind(now).execute(pool).await?.rows_affected() == 1,
        }))
    }
}
