//! `SqlStore`'s plumbing: the pool on either backend (SQLite with its writer thread, or
//! PostgreSQL), `on_pool!` which compiles one portable statement for both drivers, how a write
//! transaction begins, generated placeholders, and scratch databases for tests.
//!
//! Dialect lives in three places only: connection setup (pragmas), how a write transaction
//! begins (`BEGIN IMMEDIATE` on SQLite) and the claim queries (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL).

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

use super::sqlite_writer::SqliteWriter;
use super::{StoreError, StoreResult};

#[derive(Debug, Clone)]
pub(super) enum Pool {
    /// The sqlx pool, and the thread that applies ingest groups (see `sqlite_writer`).
    Sqlite(SqlitePool, Arc<SqliteWriter>),
    Postgres(PgPool),
}

/// The store on either backend.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(super) pool: Pool,
}

/// Runs `$body` with `$conn` bound to whichever pool this store has. The body is compiled once per
/// driver, so the SQL in it must be portable.
macro_rules! on_pool {
    ($self:expr, $conn:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($conn, _) => $body,
            Pool::Postgres($conn) => $body,
        }
    };
}

pub(super) use on_pool;

/// Starting a write transaction: SQLite takes the write lock up front so that two writers never
/// deadlock upgrading a read lock; PostgreSQL's default is right.
pub(super) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const PING_WHEN_IDLE: Duration = Duration::from_secs(10);

/// Which placeholder style a generated statement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// Anonymous `?`: sqlx-sqlite resolves every `$n` through `sqlite3_bind_parameter_name`, a
    /// linear scan, which makes statements with thousands of parameters quadratic.
    Sqlite,
    /// Numbered `$n`.
    Postgres,
}

impl SqlStore {
    /// A claim query with this backend's row-locking clause.
    pub(super) fn claim_sql(&self, template: &str) -> sqlx::AssertSqlSafe<String> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        sqlx::AssertSqlSafe(template.replace("{lock}", lock))
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(..) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// `(?, ?), (?, ?)` or `($1, $2), ($3, $4)` for `rows` rows of `cols` parameters, optionally with
/// a type cast per column (PostgreSQL cannot infer parameter types inside `VALUES`). Only
/// placeholders, never data. Parameters are bound in order.
pub(super) fn placeholders(dialect: Dialect, rows: usize, cols: usize, casts: &[&str]) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..cols {
            let n = row * cols + col + 1;
            if col > 0 {
                out.push_str(", ");
            }
            let param = match dialect {
                Dialect::Sqlite => "?".to_owned(),
                Dialect::Postgres => format!("${n}"),
            };
            match casts.get(col) {
                Some(ty) => {
                    let _ = write!(out, "CAST({param} AS {ty})");
                }
                None => out.push_str(&param),
            }
        }
        out.push(')');
    }
    out
}

/// Inserts a media row inside the caller's transaction.
macro_rules! insert_media {
    ($m:expr, $exec:expr) => {
        sqlx::query(
            "INSERT INTO media (id, message_id, contact_id, direction, meta_media_id, mime, sha256, state, attempts, \
             next_attempt_at, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $9)",
        )
        .bind(&$m.id)
        .bind(&$m.message_id)
        .bind(&$m.contact_id)
        .bind($m.direction)
        .bind(&$m.meta_media_id)
        .bind(&$m.mime)
        .bind(&$m.sha256)
        .bind($m.state)
        .bind($m.created_at)
        .bind($m.size_bytes)
        .execute($exec)
        .await?
    };
}
pub(super) use insert_media;

impl SqlStore {
    /// Connects to `url`. SQLite files are created if missing and run in WAL mode with
    /// `synchronous=FULL`: a commit is on disk before Veil answers.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // 64 MiB page cache: index pages stay hot under ingest.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory");
            let filename = options.get_filename().to_owned();
            // A local file cannot drop a connection: skip the ping sqlx makes on every acquire.
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            let writer = SqliteWriter::open(&filename)?;
            Ok(Self {
                pool: Pool::Sqlite(pool, Arc::new(writer)),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sqlx pings every connection it hands out: one more round trip before every query.
            // A connection in steady use is known alive (a dead one fails its query, which the
            // caller sees as any database error); only one idle for a while is pinged first.
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_WHEN_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await?;
            Ok(Self {
                pool: Pool::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Closes every connection (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let server = match base.rfind('/') {
        Some(i) if base[..i].ends_with('/') => base,
        Some(i) => &base[..i],
        None => base,
    };
    let server = server.trim_end_matches('/');
    query.map_or_else(
        || format!("{server}/{name}"),
        |q| format!("{server}/{name}?{q}"),
    )
}

pub(super) async fn create_database(admin_url: &str, name: &str) -> StoreResult<String> {
    if !valid_database_name(name) {
        return Err(StoreError::UnsupportedUrl);
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    // A database name cannot be a bind parameter; `name` is checked to be [a-z0-9_] above.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(with_database(admin_url, name))
}

pub(super) async fn drop_database(admin_url: &str, name: &str) -> StoreResult<()> {
    if !valid_database_name(name) {
        return Err(StoreError::UnsupportedUrl);
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_and_cast_columns() {
        assert_eq!(
            placeholders(Dialect::Postgres, 2, 2, &[]),
            "($1, $2), ($3, $4)"
        );
        assert_eq!(
            placeholders(Dialect::Postgres, 1, 2, &["TEXT"]),
            "(CAST($1 AS TEXT), $2)"
        );
        assert_eq!(
            placeholders(Dialect::Sqlite, 2, 2, &["TEXT"]),
            "(CAST(? AS TEXT), ?), (CAST(? AS TEXT), ?)"
        );
    }

    #[test]
    fn scratch_urls_replace_only_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert!(!valid_database_name("x; DROP"));
    }
}
