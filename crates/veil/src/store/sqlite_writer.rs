//! The SQLite writer: one thread that owns one rusqlite connection and applies each ingest group
//! and each audit append group in one `BEGIN IMMEDIATE` transaction with cached prepared
//! statements.
//!
//! Why a second driver for one query: sqlx-sqlite runs every statement on a worker thread reached
//! through channels, so a group of webhooks costs several thread hand-offs, and under load each
//! waits for a time slice. Measured here, that capped durable ingest at about 9,000 messages/s
//! while the path without the database ran at 20,800/s. This thread takes one hand-off per group.
//! Audit appends had the same cap (about 22,000 entries/s through sqlx multi-row inserts).
//! rusqlite links the same `libsqlite3-sys` as sqlx (one SQLite), the connection uses the same
//! pragmas (WAL, `synchronous=FULL`), and every other query still goes through sqlx.
//!
//! Checkpoints (copying the WAL back into the database file) run on a second thread with its own
//! connection, not inside a commit: SQLite's automatic checkpoint runs in the commit that crosses
//! the threshold, so that group's webhooks waited for a whole checkpoint (tens of milliseconds of
//! page writes and the main file's fsync), which was the slow mode of the ingest latency.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::audit_index::{KEY_BATCH, KEY_ENTRIES, MOVE_KEYED};
use super::{AuditAppend, IngestOutcome, IngestWrite, StoreError, StoreResult};

enum Request {
    Ingest(IngestWrite, oneshot::Sender<StoreResult<IngestOutcome>>),
    Audit(AuditAppend, oneshot::Sender<StoreResult<bool>>),
}

/// Handle to the writer thread. The thread ends when the last handle is dropped.
pub struct SqliteWriter {
    requests: mpsc::Sender<Request>,
}

fn stopped() -> StoreError {
    StoreError::Writer("writer thread stopped".into())
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter")
    }
}

impl SqliteWriter {
    /// Opens the database file and starts the thread.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "wal")?;
        connection.pragma_update(None, "synchronous", "full")?;
        connection.pragma_update(None, "foreign_keys", "on")?;
        // SQLite's default page cache (2 MB), not more: every commit ends by scanning the whole
        // page cache (`pcache1TruncateUnsafe`, one cache miss per cached page), so the cost of a
        // commit grew with its size. Profiled under saturating ingest: 6% of the server's CPU
        // with 64 MB, 4.6% with 8 MB; A/B side by side, 2 MB cut the server's CPU per webhook by
        // ~25% against 64 MB. The pages it no longer keeps come back from the OS's page cache.
        connection.pragma_update(None, "cache_size", "-2000")?;
        connection.set_prepared_statement_cache_capacity(64);
        // Replaces SQLite's automatic checkpoint on this connection (see the module's comment).
        connection.wal_hook(Some(note_wal_size));
        let mut checkpointer = Checkpointer::start(path)?;
        let (requests, inbox) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("veil-sqlite-writer".into())
            .spawn(move || {
                let mut connection = connection;
                while let Ok(request) = inbox.recv() {
                    match request {
                        Request::Ingest(write, reply) => {
                            let _ = reply.send(apply(&mut connection, &write));
                        }
                        Request::Audit(append, reply) => {
                            let _ = reply.send(append_audit(&mut connection, &append));
                        }
                    }
                    checkpointer.after_commit(&connection);
                }
            })
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        Ok(Self { requests })
    }

    /// Applies one group durably; answers once committed (or failed and rolled back).
    pub async fn apply(&self, write: IngestWrite) -> StoreResult<IngestOutcome> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Ingest(write, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Appends one audit group durably (see `AuditStore::append_audit`).
    pub async fn append_audit(&self, append: AuditAppend) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Audit(append, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// WAL frames (pages) written since the last checkpoint after which the checkpointer copies the
/// WAL into the database file: about 40 MB, so the main file is written and synced about once per
/// 10,000 pages rather than per 1,000 (SQLite's default), and a page written many times in that
/// span is copied once.
const CHECKPOINT_FRAMES: i32 = 10_000;

/// WAL frames past which the writer checkpoints itself, between two groups. A checkpoint from
/// the other thread copies only the frames that existed when it began; under a load that never
/// pauses the WAL could then never start over, and would grow without end.
const CHECKPOINT_INLINE_FRAMES: i32 = 100_000;

thread_local! {
    /// Frames in the WAL after the last commit of the writer connection on this thread.
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// The writer connection's WAL hook: runs on the writer thread after each commit.
#[expect(
    clippy::unnecessary_wraps,
    reason = "the signature rusqlite's WAL hook takes"
)]
fn note_wal_size(_wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|cell| cell.set(frames));
    Ok(())
}

/// The thread that checkpoints, woken by the writer at most once per checkpoint (never when idle).
struct Checkpointer {
    wake: mpsc::SyncSender<()>,
    /// Set by the writer when it wakes the thread, cleared by the thread when it is done.
    pending: Arc<AtomicBool>,
    /// WAL frames when the last checkpoint was asked for. Under a load that never pauses the WAL
    /// does not start over after a checkpoint, so the next one waits for as many new frames.
    asked_at: i32,
}

impl Checkpointer {
    fn start(path: &Path) -> StoreResult<Self> {
        let connection = Connection::open(path)?;
        // The checkpoint syncs the database file before the WAL may start over.
        connection.pragma_update(None, "synchronous", "full")?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let pending = Arc::new(AtomicBool::new(false));
        let done = pending.clone();
        std::thread::Builder::new()
            .name("veil-sqlite-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    checkpoint(&connection);
                    done.store(false, Ordering::Release);
                }
            })
            .map_err(|e| StoreError::Writer(e.to_string()))?;
        Ok(Self {
            wake,
            pending,
            asked_at: 0,
        })
    }

    fn after_commit(&mut self, connection: &Connection) {
        let frames = WAL_FRAMES.with(Cell::get);
        if frames < self.asked_at {
            // The WAL started over.
            self.asked_at = 0;
        }
        if frames >= CHECKPOINT_INLINE_FRAMES {
            WAL_FRAMES.with(|cell| cell.set(0));
            self.asked_at = 0;
            checkpoint(connection);
        } else if frames - self.asked_at >= CHECKPOINT_FRAMES
            && !self.pending.swap(true, Ordering::AcqRel)
        {
            self.asked_at = frames;
            // A full channel means a wake-up is already on its way.
            let _ = self.wake.try_send(());
        }
    }
}

/// Copies what it can of the WAL into the database file without blocking the writer. A failure
/// is only logged: the next checkpoint copies what this one did not.
fn checkpoint(connection: &Connection) {
    if let Err(err) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %err, "WAL checkpoint failed; the next one retries");
    }
}

const MOVE_AUDIT_HEAD: &str =
    "UPDATE audit_head SET size = ?1, frontier = ?2 WHERE id = 1 AND size = ?3 RETURNING keyed";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at, actor, action, target, ip, outcome, reason, leaf_hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const INSERT_AUDIT_NODE: &str = "INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)";

/// The head first: `false`, and nothing written, when another writer moved it.
fn append_audit(connection: &mut Connection, append: &AuditAppend) -> StoreResult<bool> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let keyed: Option<i64> = tx
        .prepare_cached(MOVE_AUDIT_HEAD)?
        .query_row(
            params![append.new_size, append.frontier, append.old_size],
            |row| row.get(0),
        )
        .optional()?;
    let Some(keyed) = keyed else {
        return Ok(false);
    };
    {
        let mut insert = tx.prepare_cached(INSERT_AUDIT)?;
        for r in &append.rows {
            insert.execute(params![
                r.seq,
                r.at,
                r.actor,
                r.action,
                r.target,
                r.ip,
                r.outcome,
                r.reason,
                r.leaf_hash
            ])?;
        }
        let mut node = tx.prepare_cached(INSERT_AUDIT_NODE)?;
        for (level, idx, hash) in &append.nodes {
            node.execute(params![level, idx, hash])?;
        }
        if append.new_size - keyed >= KEY_BATCH {
            tx.prepare_cached(KEY_ENTRIES)?
                .execute(params![keyed, append.new_size])?;
            tx.prepare_cached(MOVE_KEYED)?
                .execute(params![append.new_size])?;
        }
    }
    tx.commit()?;
    Ok(true)
}

const INSERT_CONTACT: &str = "INSERT INTO contacts (id, channel_id, wa_blind, user_blind, master_version, sealed_key, wa_id_ct, user_id_ct, created_at, key_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const INSERT_CONVERSATION: &str = "INSERT INTO conversations (id, contact_id, channel_id, status, unread_count, last_activity_at, created_at) \
     VALUES (?1, ?2, ?3, 'open', 0, ?4, ?4)";
const LINK_CONTACT: &str = "UPDATE contacts SET wa_blind = COALESCE(wa_blind, ?1), wa_id_ct = COALESCE(wa_id_ct, ?2), \
     user_blind = COALESCE(user_blind, ?3), user_id_ct = COALESCE(user_id_ct, ?4) WHERE id = ?5";
const INSERT_MESSAGE: &str = "INSERT INTO messages (id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, context_wamid, \
     status, status_rank, sent_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) \
     ON CONFLICT (wamid) DO NOTHING";
/// Also proves the contact still has the data key the message was sealed with.
const TOUCH_CONVERSATION: &str = "UPDATE conversations SET unread_count = unread_count + ?1, status = 'open', \
     last_activity_at = CASE WHEN last_activity_at < ?2 THEN ?2 ELSE last_activity_at END, \
     last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < ?3 THEN ?3 ELSE last_inbound_at END \
     WHERE id = ?4 AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = conversations.contact_id AND c.key_id = ?5)";
const RENAME_CONTACT: &str = "UPDATE contacts SET name_ct = ?1 WHERE id = ?2";
const INSERT_MEDIA: &str = "INSERT INTO media (id, message_id, contact_id, direction, meta_media_id, mime, sha256, state, attempts, \
     next_attempt_at, size_bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?9)";
const INSERT_STATUS_EVENT: &str = "INSERT INTO status_events (id, wamid, status, status_rank, error_code, error_title, recipient_blind, raw_ct, \
     occurred_at, received_at, digest, key_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (digest) DO NOTHING";
const RECONCILE_WAMID: &str = "UPDATE messages SET wamid = ?1 WHERE id = ?2 AND wamid IS NULL";
const RECONCILE_OUTBOX: &str = "UPDATE outbox SET state = 'sent', updated_at = ?1 WHERE message_id = ?2 AND state IN ('sending', 'ambiguous', 'queued')";
const APPLY_STATUS: &str = "UPDATE messages SET status = ?1, status_rank = ?2, error_code = COALESCE(?3, error_code), \
     error_title = COALESCE(?4, error_title), updated_at = ?5 WHERE wamid = ?6 AND status_rank < ?2";
const INSERT_EVENT: &str = "INSERT INTO events (id, field, raw_ct, received_at, digest, key_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (digest) DO NOTHING";

fn apply(connection: &mut Connection, write: &IngestWrite) -> StoreResult<IngestOutcome> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcome = IngestOutcome::default();
    apply_contacts(&tx, write)?;
    apply_messages(&tx, write, &mut outcome)?;
    apply_statuses(&tx, write, &mut outcome)?;
    for e in &write.events {
        tx.prepare_cached(INSERT_EVENT)?.execute(params![
            e.id,
            e.field,
            e.raw_ct,
            e.received_at,
            e.digest,
            e.key_name
        ])?;
    }
    tx.commit()?;
    Ok(outcome)
}

fn apply_contacts(tx: &Connection, write: &IngestWrite) -> StoreResult<()> {
    for c in &write.contacts {
        tx.prepare_cached(INSERT_CONTACT)?.execute(params![
            c.id,
            c.channel_id,
            c.wa_blind,
            c.user_blind,
            c.key.master_version,
            c.key.sealed_key,
            c.wa_id_ct,
            c.user_id_ct,
            c.created_at,
            c.key_id
        ])?;
        tx.prepare_cached(INSERT_CONVERSATION)?.execute(params![
            c.conversation_id,
            c.id,
            c.channel_id,
            c.created_at
        ])?;
    }
    for l in &write.links {
        tx.prepare_cached(LINK_CONTACT)?.execute(params![
            l.wa_blind,
            l.wa_id_ct,
            l.user_blind,
            l.user_id_ct,
            l.contact_id
        ])?;
    }
    Ok(())
}

fn apply_messages(
    tx: &Connection,
    write: &IngestWrite,
    outcome: &mut IngestOutcome,
) -> StoreResult<()> {
    for item in &write.messages {
        let m = &item.message;
        let inserted = tx.prepare_cached(INSERT_MESSAGE)?.execute(params![
            m.id,
            m.conversation_id,
            m.contact_id,
            m.wamid,
            m.direction,
            m.kind,
            m.content_ct,
            m.raw_ct,
            m.context_wamid,
            m.status,
            m.status_rank,
            m.sent_at,
            m.created_at
        ])?;
        if let Some(name_ct) = &item.touch.name_ct {
            tx.prepare_cached(RENAME_CONTACT)?
                .execute(params![name_ct, m.contact_id])?;
        }
        if inserted == 0 {
            outcome.duplicates += 1;
            continue;
        }
        outcome.messages_inserted += 1;
        let touched = tx.prepare_cached(TOUCH_CONVERSATION)?.execute(params![
            i64::from(m.direction == "in"),
            m.created_at,
            item.touch.last_inbound_at,
            m.conversation_id,
            item.touch.key_id
        ])?;
        if touched != 1 {
            // Sealed with a key the contact no longer has (shredded meanwhile): the group rolls back.
            return Err(StoreError::StaleContactKey(m.contact_id.clone()));
        }
        if let Some(media) = &item.media {
            tx.prepare_cached(INSERT_MEDIA)?.execute(params![
                media.id,
                media.message_id,
                media.contact_id,
                media.direction,
                media.meta_media_id,
                media.mime,
                media.sha256,
                media.state,
                media.created_at,
                media.size_bytes
            ])?;
        }
    }
    Ok(())
}

fn apply_statuses(
    tx: &Connection,
    write: &IngestWrite,
    outcome: &mut IngestOutcome,
) -> StoreResult<()> {
    for s in &write.statuses {
        tx.prepare_cached(INSERT_STATUS_EVENT)?.execute(params![
            s.id,
            s.wamid,
            s.status,
            s.status_rank,
            s.error_code,
            s.error_title,
            s.recipient_blind,
            s.raw_ct,
            s.occurred_at,
            s.received_at,
            s.digest,
            s.key_name
        ])?;
        if let Some(ours) = &s.our_message_id {
            // Reconciles a send whose response was lost: Meta echoes our id with the wamid.
            let holder: Option<String> = tx
                .prepare_cached("SELECT id FROM messages WHERE wamid = ?1")?
                .query_row(params![s.wamid], |r| r.get(0))
                .optional()?;
            if holder.is_none() {
                tx.prepare_cached(RECONCILE_WAMID)?
                    .execute(params![s.wamid, ours])?;
            }
            tx.prepare_cached(RECONCILE_OUTBOX)?
                .execute(params![s.received_at, ours])?;
        }
        let applied = tx.prepare_cached(APPLY_STATUS)?.execute(params![
            s.status,
            s.status_rank,
            s.error_code,
            s.error_title,
            s.received_at,
            s.wamid
        ])?;
        outcome.statuses_applied += u64::try_from(applied).unwrap_or(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> i32 {
        WAL_FRAMES.with(Cell::get)
    }

    /// Commits on this thread, as the writer thread does, and tells the checkpointer after each.
    fn commit_page(connection: &Connection, checkpointer: &mut Checkpointer) {
        connection
            .execute("INSERT INTO pages (body) VALUES (zeroblob(3000))", [])
            .expect("insert");
        checkpointer.after_commit(connection);
    }

    #[test]
    fn the_wal_is_checkpointed_off_the_writer_thread_and_starts_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wal.db");
        let connection = Connection::open(&path).expect("open");
        connection
            .pragma_update(None, "journal_mode", "wal")
            .expect("wal");
        connection
            .execute_batch("CREATE TABLE pages (id INTEGER PRIMARY KEY, body BLOB)")
            .expect("table");
        connection.wal_hook(Some(note_wal_size));
        let mut checkpointer = Checkpointer::start(&path).expect("checkpointer");

        // Below the threshold nothing is asked, and the WAL only grows.
        commit_page(&connection, &mut checkpointer);
        let first = frames();
        assert!(first > 0, "the hook saw the commit");
        while frames() < CHECKPOINT_FRAMES - 10 {
            commit_page(&connection, &mut checkpointer);
        }
        assert!(!checkpointer.pending.load(Ordering::Acquire));

        // Crossing it wakes the other thread; the writer goes on without waiting for it.
        while !checkpointer.pending.load(Ordering::Acquire) {
            commit_page(&connection, &mut checkpointer);
        }
        let asked = frames();
        assert!(asked >= CHECKPOINT_FRAMES);
        while checkpointer.pending.load(Ordering::Acquire) {
            // The checkpoint takes milliseconds; nothing else tells when it is done.
            std::thread::yield_now();
        }

        // Everything was copied back, so the next commit writes the WAL from its start.
        commit_page(&connection, &mut checkpointer);
        assert!(
            frames() < first + 10,
            "the WAL started over ({} frames after {asked})",
            frames()
        );
        let rows: i64 = connection
            .query_row("SELECT count(*) FROM pages", [], |r| r.get(0))
            .expect("count");
        assert!(rows > 1000);
        let fresh = Connection::open(&path).expect("reopen");
        let copied: i64 = fresh
            .query_row("SELECT count(*) FROM pages", [], |r| r.get(0))
            .expect("count");
        assert_eq!(copied, rows, "a new reader sees every committed row");
    }
}
