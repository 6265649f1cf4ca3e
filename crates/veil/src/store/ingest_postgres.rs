//! Webhook ingest on PostgreSQL: one group of inbound messages, statuses and events in one
//! transaction of multi-row statements, or one statement when the group is only messages of
//! known contacts. (On SQLite the writer thread applies groups, see `sqlite_writer.rs`.)

use std::collections::{HashMap, HashSet};

use super::pool::insert_media;
use super::{InboundMessageWrite, IngestOutcome, IngestWrite, StoreError, StoreResult};

/// Most messages per multi-row INSERT: 14 parameters each stays far below PostgreSQL's 65,535.
const MESSAGE_CHUNK: usize = 500;

/// Most payload bytes per multi-row INSERT. Large statements are fine now that the connection sets
/// `TCP_NODELAY` (see `vendor/README.md`: without it, a statement larger than one send segment
/// waited 40 ms for the server's delayed ACK, and this was 12 KiB); the cap keeps one statement's
/// memory bounded.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Splits messages into chunks of at most `MESSAGE_CHUNK` rows and about `CHUNK_BYTES` bytes.
fn message_chunks(messages: &[InboundMessageWrite]) -> Vec<&[InboundMessageWrite]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in messages.iter().enumerate() {
        let size =
            item.message.content_ct.len() + item.message.raw_ct.as_ref().map_or(0, Vec::len) + 256;
        if i > start && (bytes + size > CHUNK_BYTES || i - start >= MESSAGE_CHUNK) {
            chunks.extend(messages.get(start..i));
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    chunks.extend(messages.get(start..).filter(|rest| !rest.is_empty()));
    chunks
}

/// Inserts one chunk of inbound messages and brings their conversations and contacts up to date,
/// in one statement: the messages (a wamid seen before is skipped), per conversation the unread
/// count, last activity and last inbound time aggregated from the rows actually inserted, and
/// each renamed contact's latest name (only under the data key it was sealed with). The
/// update also proves each contact still has the data key its messages were sealed with; if a
/// conversation was not updated (key shredded or replaced meanwhile), `veil_assert` raises and
/// the statement, with its transaction, fails. Arrays, one per column, keep the text fixed, so it
/// is parsed and planned once per connection (a `VALUES` list of n rows is a new statement for
/// every n, and planning 2,000 parameters cost more than the insert). The statement itself is the
/// function `veil_ingest_messages` (migration 0010), so that it is planned with sequential scans
/// and hash joins off whatever the statistics say.
const INGEST_MESSAGES_POSTGRES: &str = "SELECT veil_ingest_messages($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

/// The SQLSTATE `veil_assert` raises (migration 0008).
const ASSERT_SQLSTATE: &str = "VE001";

/// Each renamed contact of a chunk once (an `UPDATE … FROM` may not update a row twice), with its
/// latest name: (contact id, sealed name, key id).
fn latest_names(chunk: &[InboundMessageWrite]) -> Vec<(&str, &[u8], &str)> {
    let mut latest: HashMap<&str, usize> = HashMap::new();
    let mut renamed: Vec<(&str, &[u8], &str)> = Vec::new();
    for item in chunk {
        if let Some(name_ct) = &item.touch.name_ct {
            let entry = (
                item.message.contact_id.as_str(),
                name_ct.as_slice(),
                item.touch.key_id.as_str(),
            );
            match latest.get(entry.0).and_then(|&i| renamed.get_mut(i)) {
                Some(slot) => *slot = entry,
                None => {
                    latest.insert(entry.0, renamed.len());
                    renamed.push(entry);
                }
            }
        }
    }
    renamed
}

/// One bind array: `f` of every row.
fn column<'a, R, T>(rows: &'a [R], f: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Runs [`INGEST_MESSAGES_POSTGRES`] for one chunk; returns the ids of the messages inserted.
async fn insert_messages_postgres(
    conn: &mut sqlx::PgConnection,
    chunk: &[InboundMessageWrite],
) -> StoreResult<HashSet<String>> {
    let renamed = latest_names(chunk);
    let inserted = sqlx::query_scalar::<_, String>(INGEST_MESSAGES_POSTGRES)
        .bind(column(chunk, |i| i.message.id.as_str()))
        .bind(column(chunk, |i| i.message.conversation_id.as_str()))
        .bind(column(chunk, |i| i.message.contact_id.as_str()))
        .bind(column(chunk, |i| i.message.wamid.as_deref()))
        .bind(column(chunk, |i| i.message.direction))
        .bind(column(chunk, |i| i.message.kind.as_str()))
        .bind(column(chunk, |i| i.message.content_ct.as_slice()))
        .bind(column(chunk, |i| i.message.raw_ct.as_deref()))
        .bind(column(chunk, |i| i.message.context_wamid.as_deref()))
        .bind(column(chunk, |i| i.message.status))
        .bind(column(chunk, |i| i.message.status_rank))
        .bind(column(chunk, |i| i.message.sent_at))
        .bind(column(chunk, |i| i.message.created_at))
        .bind(column(chunk, |i| i.touch.key_id.as_str()))
        .bind(column(chunk, |i| i.touch.last_inbound_at))
        .bind(column(&renamed, |r| r.0))
        .bind(column(&renamed, |r| r.1))
        .bind(column(&renamed, |r| r.2))
        .fetch_all(conn)
        .await;
    match inserted {
        Ok(ids) => Ok(ids.into_iter().collect()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(ASSERT_SQLSTATE) => {
            Err(StoreError::StaleContactKey(String::new()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a group is only new messages of known contacts: then, if its messages fit one
/// chunk, that chunk's statement alone is the transaction (no `BEGIN`/`COMMIT` round trips).
fn messages_only(write: &IngestWrite) -> bool {
    write.contacts.is_empty()
        && write.links.is_empty()
        && write.statuses.is_empty()
        && write.events.is_empty()
        && write.messages.iter().all(|i| i.media.is_none())
}

/// Writes one ingest group on PostgreSQL: a group of only messages from known contacts is one
/// statement (its own transaction: one round trip); any other group is one transaction of
/// multi-row statements.
#[allow(
    clippy::too_many_lines,
    reason = "one transaction's statements in the order they must run"
)]
pub(super) async fn apply_ingest_postgres(
    conn: &mut sqlx::PgConnection,
    write: IngestWrite,
) -> StoreResult<IngestOutcome> {
    let mut outcome = IngestOutcome::default();
    let chunks = message_chunks(&write.messages);
    if messages_only(&write) && chunks.len() <= 1 {
        if let Some(chunk) = chunks.first() {
            let inserted = insert_messages_postgres(conn, chunk).await?;
            outcome.messages_inserted = inserted.len() as u64;
            outcome.duplicates = (chunk.len() - inserted.len()) as u64;
        }
        return Ok(outcome);
    }
    {
        let mut tx = sqlx::Connection::begin(conn).await?;
        // New contacts and their conversations: one statement, whatever their number: the
        // contacts in a CTE, their conversations in the main insert (its foreign-key checks run
        // at its end and see the contacts). Arrays keep the statement text fixed (prepared once).
        if !write.contacts.is_empty() {
            let c = &write.contacts;
            sqlx::query(
                "WITH c AS (INSERT INTO contacts (id, channel_id, wa_blind, user_blind, master_version, sealed_key, wa_id_ct, user_id_ct, created_at, key_id) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bigint[], $10::text[])) \
                 INSERT INTO conversations (id, contact_id, channel_id, status, unread_count, last_activity_at, created_at) \
                 SELECT v.id, v.contact_id, v.channel_id, 'open', 0, v.at, v.at \
                 FROM unnest($11::text[], $1::text[], $2::text[], $9::bigint[]) AS v(id, contact_id, channel_id, at)")
                .bind(column(c, |c| c.id.as_str()))
                .bind(column(c, |c| c.channel_id.as_str()))
                .bind(column(c, |c| c.wa_blind.as_deref()))
                .bind(column(c, |c| c.user_blind.as_deref()))
                .bind(column(c, |c| c.key.master_version))
                .bind(column(c, |c| c.key.sealed_key.as_slice()))
                .bind(column(c, |c| c.wa_id_ct.as_deref()))
                .bind(column(c, |c| c.user_id_ct.as_deref()))
                .bind(column(c, |c| c.created_at))
                .bind(column(c, |c| c.key_id.as_str()))
                .bind(column(c, |c| c.conversation_id.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        for l in &write.links {
            sqlx::query(
                "UPDATE contacts SET wa_blind = COALESCE(wa_blind, $1), wa_id_ct = COALESCE(wa_id_ct, $2), \
                 user_blind = COALESCE(user_blind, $3), user_id_ct = COALESCE(user_id_ct, $4) WHERE id = $5")
                .bind(&l.wa_blind).bind(&l.wa_id_ct).bind(&l.user_blind).bind(&l.user_id_ct).bind(&l.contact_id)
                .execute(&mut *tx).await?;
        }
        for chunk in chunks {
            let inserted = insert_messages_postgres(&mut tx, chunk).await?;
            let fresh: Vec<&InboundMessageWrite> = chunk
                .iter()
                .filter(|i| inserted.contains(&i.message.id))
                .collect();
            outcome.messages_inserted += fresh.len() as u64;
            outcome.duplicates += (chunk.len() - fresh.len()) as u64;
            for item in &fresh {
                if let Some(media) = &item.media {
                    insert_media!(media, &mut *tx);
                }
            }
        }
        for s in &write.statuses {
            sqlx::query(
                "INSERT INTO status_events (id, wamid, status, status_rank, error_code, error_title, recipient_blind, raw_ct, occurred_at, received_at, digest, key_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (digest) DO NOTHING")
                .bind(&s.id).bind(&s.wamid).bind(&s.status).bind(s.status_rank).bind(s.error_code).bind(&s.error_title)
                .bind(&s.recipient_blind).bind(&s.raw_ct).bind(s.occurred_at).bind(s.received_at).bind(&s.digest).bind(&s.key_name)
                .execute(&mut *tx).await?;
            if let Some(ours) = &s.our_message_id {
                // Reconciles a send whose response was lost: Meta echoes our id with the wamid.
                sqlx::query("UPDATE messages SET wamid = $1 WHERE id = $2 AND wamid IS NULL")
                    .bind(&s.wamid)
                    .bind(ours)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE outbox SET state = 'sent', updated_at = $1 WHERE message_id = $2 AND state IN ('sending', 'ambiguous', 'queued')")
                    .bind(s.received_at).bind(ours).execute(&mut *tx).await?;
            }
            let applied = sqlx::query(
                "UPDATE messages SET status = $1, status_rank = $2, error_code = COALESCE($3, error_code), \
                 error_title = COALESCE($4, error_title), updated_at = $5 WHERE wamid = $6 AND status_rank < $2")
                .bind(&s.status).bind(s.status_rank).bind(s.error_code).bind(&s.error_title).bind(s.received_at).bind(&s.wamid)
                .execute(&mut *tx).await?;
            outcome.statuses_applied += applied.rows_affected();
        }
        for e in &write.events {
            sqlx::query("INSERT INTO events (id, field, raw_ct, received_at, digest, key_name) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (digest) DO NOTHING")
                .bind(&e.id)
                .bind(&e.field).bind(&e.raw_ct).bind(e.received_at).bind(&e.digest).bind(&e.key_name).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_chunks_stay_under_the_byte_and_row_caps() {
        use crate::store::{ContactTouch, NewMessage};
        let item = |n: usize, size: usize| InboundMessageWrite {
            message: NewMessage {
                id: n.to_string(),
                conversation_id: String::new(),
                contact_id: String::new(),
                wamid: None,
                direction: "in",
                kind: "text".into(),
                content_ct: vec![0; size],
                raw_ct: Some(vec![0; size * 2]),
                context_wamid: None,
                status: "received",
                status_rank: 0,
                sent_at: 0,
                created_at: 0,
            },
            touch: ContactTouch {
                key_id: String::new(),
                name_ct: None,
                last_inbound_at: 0,
            },
            media: None,
        };
        let bytes = |c: &[InboundMessageWrite]| -> usize {
            c.iter()
                .map(|i| {
                    i.message.content_ct.len() + i.message.raw_ct.as_ref().map_or(0, Vec::len) + 256
                })
                .sum()
        };
        // Large messages: cut by bytes. Tiny ones: cut by rows.
        for (count, size) in [(1_000, 1_000), (1_200, 10)] {
            let messages: Vec<InboundMessageWrite> = (0..count).map(|n| item(n, size)).collect();
            let chunks = message_chunks(&messages);
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(sizes.iter().sum::<usize>(), count);
            assert!(chunks.len() > 1, "{sizes:?}");
            assert!(
                chunks
                    .iter()
                    .all(|c| !c.is_empty() && c.len() <= MESSAGE_CHUNK && bytes(c) <= CHUNK_BYTES),
                "{sizes:?}"
            );
        }
        assert!(message_chunks(&[]).is_empty());
    }

    #[test]
    fn each_renamed_contact_gets_its_latest_name_once() {
        use crate::store::{ContactTouch, NewMessage};
        let item = |contact: &str, name: Option<&str>| InboundMessageWrite {
            message: NewMessage {
                id: String::new(),
                conversation_id: String::new(),
                contact_id: contact.into(),
                wamid: None,
                direction: "in",
                kind: "text".into(),
                content_ct: Vec::new(),
                raw_ct: None,
                context_wamid: None,
                status: "received",
                status_rank: 0,
                sent_at: 0,
                created_at: 0,
            },
            touch: ContactTouch {
                key_id: format!("key-{contact}"),
                name_ct: name.map(|n| n.as_bytes().to_vec()),
                last_inbound_at: 0,
            },
            media: None,
        };
        let chunk = [
            item("a", Some("first")),
            item("b", None),
            item("c", Some("only")),
            item("a", Some("second")),
            item("a", None),
        ];
        assert_eq!(
            latest_names(&chunk),
            vec![
                ("a", b"second".as_slice(), "key-a"),
                ("c", b"only".as_slice(), "key-c")
            ]
        );
    }
}
