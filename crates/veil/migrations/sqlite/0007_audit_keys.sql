-- The audit log's search keys, kept beside the entries instead of as indexes on them.
--
-- An index on (actor, ...) or (target, ...) puts every appended entry at its own place in a
-- B-tree, so a group of appends by many agents about many conversations dirties about one index
-- page per entry; SQLite's WAL then writes each of those pages whole at every commit. Measured,
-- the actor index alone halved append throughput. Here every entry gets two rows, one under
-- 'a:' || actor and one under 't:' || target, written in batches inside an append transaction
-- once enough entries are waiting (entries from `keyed` on are not keyed yet). Searches read
-- the keys up to `keyed` and scan the short tail after it, in one statement, so they see every
-- entry. `veil audit verify` checks that the keys match the entries exactly.
CREATE TABLE audit_keys (
    term TEXT NOT NULL,
    at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (term, at, seq)
) WITHOUT ROWID;
ALTER TABLE audit_head ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
INSERT INTO audit_keys (term, at, seq, action)
    SELECT 'a:' || actor, at, seq, action FROM audit_log
    UNION ALL
    SELECT 't:' || target, at, seq, action FROM audit_log;
UPDATE audit_head SET keyed = size WHERE id = 1;
DROP INDEX audit_log_by_actor;
DROP INDEX audit_log_by_target;
