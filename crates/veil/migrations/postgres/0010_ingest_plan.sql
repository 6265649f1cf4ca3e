-- The ingest statement of a chunk of inbound messages from known contacts (see
-- `store::ingest_postgres`), as a function planned with sequential scans and hash joins off.
-- Called with small groups, the prepared statement soon ran a cached generic plan in which each
-- bound array counts as 10 rows, so on a table of a few thousand conversations (or one that was
-- small when the plan was built) the conversation update became a hash join over a sequential
-- scan of `conversations`: about four times the work of the index lookups it needs, on every
-- webhook at light traffic. The SET clauses hold whatever the statistics say; plpgsql still
-- prepares the statement once per connection.
CREATE FUNCTION veil_ingest_messages(
    text[], text[], text[], text[], text[], text[], bytea[], bytea[], text[], text[],
    bigint[], bigint[], bigint[], text[], bigint[], text[], bytea[], text[]
) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET enable_hashjoin = off
AS $fn$
BEGIN
    RETURN QUERY
    WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
        $8::bytea[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::bigint[])
        AS v(id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, context_wamid, status,
        status_rank, sent_at, created_at, key_id, inbound_at)),
    ins AS (INSERT INTO messages (id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct,
        context_wamid, status, status_rank, sent_at, created_at, updated_at)
        SELECT id, conversation_id, contact_id, wamid, direction, kind, content_ct, raw_ct, context_wamid, status,
        status_rank, sent_at, created_at, created_at FROM v
        ON CONFLICT (wamid) DO NOTHING RETURNING id),
    t AS (SELECT v.conversation_id AS id, min(v.key_id) AS key_id, count(*) FILTER (WHERE v.direction = 'in') AS unread,
        max(v.created_at) AS activity, max(v.inbound_at) AS inbound FROM ins JOIN v ON v.id = ins.id
        GROUP BY v.conversation_id),
    upd AS (UPDATE conversations SET unread_count = conversations.unread_count + t.unread, status = 'open',
        last_activity_at = GREATEST(conversations.last_activity_at, t.activity),
        last_inbound_at = GREATEST(conversations.last_inbound_at, t.inbound)
        FROM t WHERE conversations.id = t.id
        AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = conversations.contact_id AND c.key_id = t.key_id)
        RETURNING 1),
    ren AS (UPDATE contacts SET name_ct = r.name FROM unnest($16::text[], $17::bytea[], $18::text[]) AS r(id, name, key_id)
        WHERE contacts.id = r.id AND contacts.key_id = r.key_id RETURNING 1)
    SELECT ins.id FROM ins WHERE veil_assert((SELECT count(*) FROM upd) = (SELECT count(*) FROM t), 'stale contact key');
END
$fn$;
