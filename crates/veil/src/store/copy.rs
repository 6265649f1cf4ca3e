//! `veil migrate-data`: moves an installation from SQLite to PostgreSQL, row by row, bytes untouched.
//!
//! Both databases are first migrated to the same schema version. The tables are read from the
//! source's catalogue and copied parents first (foreign keys), every value as it is stored: sealed
//! columns stay the same ciphertext, under the same data keys, so nothing is decrypted on the way
//! and the audit log's leaves hash to the same tree. The whole copy is one PostgreSQL transaction
//! that also checks each table's row count: it lands completely or not at all.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::TryStreamExt as _;
use sqlx::{Column as _, Row as _};

use super::pool::Pool;
use super::{SqlStore, StoreError, StoreResult};

/// Tables whose rows mean "this database is in use": the target must have none.
const IN_USE: [&str; 4] = ["users", "contacts", "messages", "audit_log"];
/// Most bound values in one statement (PostgreSQL allows 65,535).
const MAX_BINDS: usize = 30_000;

/// How many rows each table held and moved.
pub type CopyReport = Vec<(String, u64)>;

/// What a column holds, from the target's declared type.
#[derive(Debug, Clone, Copy)]
enum ColumnType {
    Integer,
    Text,
    Bytes,
}

enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

struct Table {
    name: String,
    columns: Vec<(String, ColumnType)>,
}

/// Copies every table of `from` (SQLite) into `to` (PostgreSQL, which must hold no data yet).
pub async fn copy_database(from: &SqlStore, to: &SqlStore) -> StoreResult<CopyReport> {
    let (Pool::Sqlite(source, _), Pool::Postgres(target)) = (&from.pool, &to.pool) else {
        return Err(StoreError::Copy(
            "migrate-data copies from sqlite:// to postgres://".into(),
        ));
    };
    for table in IN_USE {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(target)
                .await?;
        if rows > 0 {
            return Err(StoreError::Copy(format!(
                "the target database already holds data (table {table}); use an empty database"
            )));
        }
    }
    let tables = tables_in_order(source, target).await?;
    let mut tx = target.begin().await?;
    // Rows the target's migrations seeded (the empty audit head) give way to the source's.
    for table in tables.iter().rev() {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {}", table.name)))
            .execute(&mut *tx)
            .await?;
    }
    let mut report = Vec::new();
    for table in &tables {
        let copied = copy_table(source, &mut tx, table).await?;
        let landed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            table.name
        )))
        .fetch_one(&mut *tx)
        .await?;
        if u64::try_from(landed).ok() != Some(copied) {
            return Err(StoreError::Copy(format!(
                "table {}: read {copied} rows but {landed} landed",
                table.name
            )));
        }
        report.push((table.name.clone(), copied));
    }
    tx.commit().await?;
    Ok(report)
}

/// The source's tables (without sqlx's bookkeeping), parents before children, with the target's
/// column types. Both must have the same tables and columns.
async fn tables_in_order(
    source: &sqlx::SqlitePool,
    target: &sqlx::PgPool,
) -> StoreResult<Vec<Table>> {
    let mut tables = Vec::new();
    for name in parents_first(source).await? {
        let source_columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(source)
                .await?;
        let target_types: BTreeMap<String, String> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(target)
        .await?
        .into_iter()
        .collect();
        if target_types.len() != source_columns.len() {
            return Err(StoreError::Copy(format!(
                "table {name} has {} columns in the source and {} in the target",
                source_columns.len(),
                target_types.len()
            )));
        }
        let mut columns = Vec::new();
        for column in source_columns {
            let kind = match target_types.get(&column).map(String::as_str) {
                Some("bigint" | "integer" | "smallint") => ColumnType::Integer,
                Some("text" | "character varying") => ColumnType::Text,
                Some("bytea") => ColumnType::Bytes,
                other => {
                    return Err(StoreError::Copy(format!(
                        "column {name}.{column} is missing in the target or has a type migrate-data does not know ({})",
                        other.unwrap_or("none")
                    )));
                }
            };
            columns.push((column, kind));
        }
        tables.push(Table { name, columns });
    }
    Ok(tables)
}

/// The source's table names, each after every table its foreign keys point to.
async fn parents_first(source: &sqlx::SqlitePool) -> StoreResult<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(source)
    .await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let refs: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(name)
                .fetch_all(source)
                .await?;
        parents.insert(
            name.clone(),
            refs.into_iter().filter(|r| r != name).collect(),
        );
    }
    let mut ordered: Vec<String> = Vec::new();
    while ordered.len() < names.len() {
        let ready: Vec<String> = parents
            .iter()
            .filter(|(name, deps)| {
                !ordered.contains(name) && deps.iter().all(|d| ordered.contains(d))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            return Err(StoreError::Copy(
                "the tables' foreign keys form a cycle".into(),
            ));
        }
        ordered.extend(ready);
    }
    Ok(ordered)
}

async fn copy_table(
    source: &sqlx::SqlitePool,
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &Table,
) -> StoreResult<u64> {
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
    let select = format!("SELECT {} FROM {}", names.join(", "), table.name);
    let per_statement = (MAX_BINDS / names.len().max(1)).max(1);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(source);
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut copied = 0u64;
    while let Some(row) = rows.try_next().await? {
        let mut values = Vec::with_capacity(names.len());
        for (i, (column, kind)) in table.columns.iter().enumerate() {
            let value = match kind {
                ColumnType::Integer => row.try_get(i).map(Value::Integer),
                ColumnType::Text => row.try_get(i).map(Value::Text),
                ColumnType::Bytes => row.try_get(i).map(Value::Bytes),
            }
            .map_err(|_| {
                StoreError::Copy(format!(
                    "table {}: a value of column {column} ({}) does not fit the target type",
                    table.name,
                    row.columns().get(i).map_or("?", |c| c.name())
                ))
            })?;
            values.push(value);
        }
        batch.push(values);
        if batch.len() == per_statement {
            copied += insert_rows(tx, table, &names, &batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        copied += insert_rows(tx, table, &names, &batch).await?;
    }
    Ok(copied)
}

async fn insert_rows(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &Table,
    names: &[&str],
    rows: &[Vec<Value>],
) -> StoreResult<u64> {
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        table.name,
        names.join(", "),
        super::pool::placeholders(super::pool::Dialect::Postgres, rows.len(), names.len(), &[])
    );
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for value in row {
            insert = match value {
                Value::Integer(v) => insert.bind(*v),
                Value::Text(v) => insert.bind(v.clone()),
                Value::Bytes(v) => insert.bind(v.clone()),
            };
        }
    }
    Ok(insert.execute(&mut **tx).await?.rows_affected())
}
