//! The audit search index's statements, shared by both writers (the async store on either
//! backend, and SQLite's writer thread): appends key their entries in batches.

/// Entries that wait unkeyed before an append keys them all (migration 0007): a search scans at
/// most this many entries past `keyed`, and keying a batch touches each key page once per batch
/// instead of once per append group.
pub(super) const KEY_BATCH: i64 = 8192;
/// Keys entries `$1..$2` (sorted, so the B-tree is written in order).
pub(super) const KEY_ENTRIES: &str = "INSERT INTO audit_keys (term, at, seq, action) \
     SELECT 'a:' || actor, at, seq, action FROM audit_log WHERE seq >= $1 AND seq < $2 \
     UNION ALL SELECT 't:' || target, at, seq, action FROM audit_log WHERE seq >= $1 AND seq < $2 \
     ORDER BY 1, 2, 3";
pub(super) const MOVE_KEYED: &str = "UPDATE audit_head SET keyed = $1 WHERE id = 1";
