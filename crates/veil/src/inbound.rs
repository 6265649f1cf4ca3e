//! Inbound ingest: turns parsed webhook items into sealed rows and commits them with group commit.
//!
//! One writer task owns the write path. Webhook handlers hand it their items and wait; the writer
//! takes every job that is waiting, writes them all in one transaction (one fsync), then answers
//! each. Under load many webhooks share a commit; when idle a single webhook commits alone at once.
//! A handler answers 200 only after its reply says committed. If a group fails, its jobs are
//! retried one by one so that one bad payload cannot fail its neighbours.
//!
//! Never logs a payload, name or number.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use veil_crypto::{Aad, DataKey};

use crate::clock::Clock;
use crate::keys::{KeyError, Keys};
use crate::store::{
    ChannelRow, ContactLink, ContactTouch, InboundMessageWrite, IngestOutcome, IngestWrite,
    NewContact, NewEvent, NewMedia, NewMessage, NewStatus, Store, StoreError,
};
use crate::whatsapp::webhook::{CustomerRef, InboundMessage, StatusUpdate, WebhookItem};

/// Most webhooks one transaction takes.
const MAX_GROUP: usize = 512;
/// Contacts whose keys stay unsealed in memory; past this the cache starts over.
const CONTACT_CACHE_LIMIT: usize = 50_000;

/// Why ingest failed. The webhook is then answered 500 and Meta redelivers it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("content could not be encoded")]
    Encode,
    #[error("the ingest writer has stopped")]
    Stopped,
}

struct Job {
    items: Vec<WebhookItem>,
    reply: oneshot::Sender<Result<IngestOutcome, IngestError>>,
}

/// Handle to the writer task.
#[derive(Debug, Clone)]
pub struct Ingestor {
    tx: mpsc::Sender<Job>,
}

/// What the writer needs.
#[derive(Debug, Clone)]
pub struct IngestDeps {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    /// Channel for payloads without `metadata.phone_number_id`.
    pub default_channel: ChannelRow,
    /// Screens text and captions before they are sealed.
    pub guard: Arc<crate::guard::Guard>,
}

impl Ingestor {
    /// Starts the writer task.
    pub fn start(deps: IngestDeps) -> Self {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run_writer(Writer::new(deps), rx));
        Self { tx }
    }

    /// Hands items to the writer and waits until they are durably committed.
    pub async fn submit(&self, items: Vec<WebhookItem>) -> Result<IngestOutcome, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { items, reply })
            .await
            .map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

/// A group whose transaction is running in its own task.
type InFlight = (
    Vec<Job>,
    tokio::task::JoinHandle<Result<IngestOutcome, StoreError>>,
);

enum Next {
    Committed(Result<Result<IngestOutcome, StoreError>, tokio::task::JoinError>),
    Job(Option<Job>),
}

/// The writer loop, pipelined one deep: while group N's transaction commits, group N+1 is
/// gathered and sealed. Transactions still run one at a time and in order.
async fn run_writer(mut writer: Writer, mut rx: mpsc::Receiver<Job>) {
    let mut inflight: Option<InFlight> = None;
    loop {
        let next = match inflight.as_mut() {
            Some((_, handle)) => tokio::select! {
                biased;
                done = handle => Next::Committed(done),
                job = rx.recv() => Next::Job(job),
            },
            None => Next::Job(rx.recv().await),
        };
        match next {
            Next::Committed(result) => {
                if let Some((jobs, _)) = inflight.take() {
                    writer.finish(jobs, result).await;
                }
            }
            Next::Job(None) => {
                if let Some((jobs, handle)) = inflight.take() {
                    writer.finish(jobs, handle.await).await;
                }
                return;
            }
            Next::Job(Some(first)) => {
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let all: Vec<&[WebhookItem]> = jobs.iter().map(|j| j.items.as_slice()).collect();
                let prepared = writer.prepare(&all).await;
                let previous_ok = match inflight.take() {
                    Some((previous, handle)) => writer.finish(previous, handle.await).await,
                    None => true,
                };
                match prepared {
                    Ok(write) if previous_ok => {
                        let store = writer.deps.store.clone();
                        inflight = Some((
                            jobs,
                            tokio::spawn(async move { store.apply_ingest(write).await }),
                        ));
                    }
                    // The previous group failed (the cache may hold what it created) or sealing
                    // failed: write this group afresh, one job at a time if need be.
                    _ => writer.write_with_fallback(jobs).await,
                }
            }
        }
    }
}

struct CachedContact {
    id: String,
    key_id: String,
    conversation_id: String,
    key: DataKey,
    has_wa: AtomicBool,
    has_user: AtomicBool,
    /// Hash of the profile name last written (0: not known), so an unchanged name is not rewritten.
    name_hash: AtomicU64,
}

struct Writer {
    deps: IngestDeps,
    contacts: HashMap<Vec<u8>, Arc<CachedContact>>,
    channels: HashMap<String, String>,
    /// Blind indexes the current group's prefetch found in no contact: no need to ask again.
    absent: HashSet<Vec<u8>>,
}

/// The blind indexes of a customer reference.
struct Blinds {
    wa: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
}

impl Writer {
    fn new(deps: IngestDeps) -> Self {
        Self {
            deps,
            contacts: HashMap::new(),
            channels: HashMap::new(),
            absent: HashSet::new(),
        }
    }

    /// Writes a group; if a cached contact key turned out stale (shredded or replaced by another
    /// process), forgets the cache and tries once more with keys read afresh.
    async fn write_group(&mut self, jobs: &[&[WebhookItem]]) -> Result<IngestOutcome, IngestError> {
        match self.try_write_group(jobs).await {
            Err(IngestError::Store(StoreError::StaleContactKey(_))) => {
                self.contacts.clear();
                self.try_write_group(jobs).await
            }
            other => other,
        }
    }

    async fn try_write_group(
        &mut self,
        jobs: &[&[WebhookItem]],
    ) -> Result<IngestOutcome, IngestError> {
        let write = self.prepare(jobs).await?;
        let result = self.deps.store.apply_ingest(write).await;
        if result.is_err() {
            // Nothing of this group was committed: forget what the cache learnt from it.
            self.contacts.clear();
        }
        Ok(result?)
    }

    async fn build_write(&mut self, jobs: &[&[WebhookItem]]) -> Result<IngestWrite, IngestError> {
        let now = self.deps.clock.now_ms();
        let items: Vec<&WebhookItem> = jobs.iter().flat_map(|items| items.iter()).collect();
        // Each sender's blind indexes, computed once for the prefetch and the rows.
        let senders: Vec<Option<Blinds>> = items
            .iter()
            .map(|item| match item {
                WebhookItem::Message(message) => Some(self.blinds(&message.customer)),
                _ => None,
            })
            .collect();
        self.prefetch_contacts(senders.iter().flatten()).await?;
        let mut write = IngestWrite::default();
        // This month's slice of the installation key seals the group's statuses and events.
        let (slice, slice_key) = self.deps.keys.slice(self.deps.store.as_ref(), now).await?;
        for (item, sender) in items.into_iter().zip(&senders) {
            match (item, sender) {
                (WebhookItem::Message(message), Some(blinds)) => {
                    self.add_message(message, blinds, now, &mut write).await?;
                }
                (WebhookItem::Message(_), None) => {}
                (WebhookItem::Status(status), _) => {
                    write
                        .statuses
                        .push(self.status_row(status, now, (&slice, &slice_key))?);
                }
                (WebhookItem::Event { field, raw }, _) => {
                    let id = Uuid::now_v7().to_string();
                    let raw_ct = slice_key.seal(&Aad::field("events", "raw", &id), raw)?;
                    let digest = self.deps.keys.blind(
                        "event",
                        &format!("{field}\u{0}{}", String::from_utf8_lossy(raw)),
                    );
                    write.events.push(NewEvent {
                        id,
                        field: field.clone(),
                        digest,
                        raw_ct,
                        received_at: now,
                        key_name: slice.clone(),
                    });
                }
            }
        }
        Ok(write)
    }

    /// Seals a group into rows without writing them. On error the cache is cleared.
    async fn prepare(&mut self, jobs: &[&[WebhookItem]]) -> Result<IngestWrite, IngestError> {
        let result = self.build_write(jobs).await;
        if result.is_err() {
            self.contacts.clear();
        }
        result
    }

    /// Answers the jobs of a committed (or failed) group. Returns whether it committed.
    async fn finish(
        &mut self,
        jobs: Vec<Job>,
        result: Result<Result<IngestOutcome, StoreError>, tokio::task::JoinError>,
    ) -> bool {
        match result {
            Ok(Ok(outcome)) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(outcome));
                }
                true
            }
            _ => {
                self.contacts.clear();
                self.write_with_fallback(jobs).await;
                false
            }
        }
    }

    /// Writes a group in one transaction; if that fails, each job alone, so one bad payload
    /// cannot fail its neighbours.
    async fn write_with_fallback(&mut self, jobs: Vec<Job>) {
        let all: Vec<&[WebhookItem]> = jobs.iter().map(|j| j.items.as_slice()).collect();
        match self.write_group(&all).await {
            Ok(outcome) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(group_error) => {
                tracing::warn!(error = %group_error, jobs = jobs.len(), "ingest group failed; retrying jobs one by one");
                for job in jobs {
                    let result = self.write_group(&[job.items.as_slice()]).await;
                    if let Err(err) = &result {
                        tracing::error!(error = %err, "webhook could not be stored; answering 500 so Meta redelivers");
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
    }

    fn blinds(&self, customer: &CustomerRef) -> Blinds {
        let keys = &self.deps.keys;
        let mut blinds = Blinds {
            wa: customer.wa_id.as_deref().map(|n| keys.blind("wa_id", n)),
            user: customer
                .user_id
                .as_deref()
                .map(|u| keys.blind("user_id", u)),
        };
        if blinds.wa.is_none() && blinds.user.is_none() {
            // Neither identifier: one shared "unknown sender" contact keeps the message.
            blinds.wa = Some(keys.blind("unknown", "unknown"));
        }
        blinds
    }

    async fn channel_id(
        &mut self,
        message: &InboundMessage,
        now: i64,
    ) -> Result<String, IngestError> {
        let Some(phone_number_id) = message.phone_number_id.clone() else {
            return Ok(self.deps.default_channel.id.clone());
        };
        if let Some(id) = self.channels.get(&phone_number_id) {
            return Ok(id.clone());
        }
        let channel = match self
            .deps
            .store
            .channel_by_phone_number_id(&phone_number_id)
            .await?
        {
            Some(channel) => channel,
            None => {
                let row = ChannelRow {
                    id: Uuid::now_v7().to_string(),
                    phone_number_id: phone_number_id.clone(),
                    display_phone_number: message.display_phone_number.clone().unwrap_or_default(),
                    waba_id: String::new(),
                    created_at: now,
                };
                self.deps.store.upsert_channel(&row).await?
            }
        };
        self.channels.insert(phone_number_id, channel.id.clone());
        Ok(channel.id)
    }

    async fn contact(
        &mut self,
        customer: &CustomerRef,
        blinds: &Blinds,
        channel_id: &str,
        now: i64,
        write: &mut IngestWrite,
    ) -> Result<Arc<CachedContact>, IngestError> {
        let cached = [&blinds.wa, &blinds.user]
            .into_iter()
            .flatten()
            .find_map(|b| self.contacts.get(b).cloned());
        let contact = match cached {
            Some(contact) => contact,
            None => {
                self.load_or_create(blinds, customer, channel_id, now, write)
                    .await?
            }
        };
        self.link_new_identifiers(&contact, blinds, customer, write)
            .await?;
        Ok(contact)
    }

    #[allow(
        clippy::too_many_lines,
        reason = "find-or-create of one contact, with its key, in one place"
    )]
    async fn load_or_create(
        &mut self,
        blinds: &Blinds,
        customer: &CustomerRef,
        channel_id: &str,
        now: i64,
        write: &mut IngestWrite,
    ) -> Result<Arc<CachedContact>, IngestError> {
        let wanted: Vec<Vec<u8>> = [&blinds.wa, &blinds.user]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let found = if wanted.iter().all(|b| self.absent.contains(b)) {
            Vec::new()
        } else {
            self.deps.store.find_contacts(&wanted).await?
        };
        let contact = if let Some(row) = found.into_iter().next() {
            self.cached_from_row(row).await?
        } else {
            let id = Uuid::now_v7().to_string();
            let (key, sealed) = self.deps.keys.new_contact_key(&id)?;
            let seal =
                |column: &str, value: &Option<String>| -> Result<Option<Vec<u8>>, IngestError> {
                    value
                        .as_deref()
                        .map(|v| key.seal(&Aad::field("contacts", column, &id), v.as_bytes()))
                        .transpose()
                        .map_err(IngestError::from_crypto)
                };
            let contact = NewContact {
                id: id.clone(),
                channel_id: channel_id.to_owned(),
                conversation_id: Uuid::now_v7().to_string(),
                wa_blind: blinds.wa.clone(),
                user_blind: blinds.user.clone(),
                key: sealed,
                key_id: Uuid::new_v4().to_string(),
                wa_id_ct: seal("wa_id", &customer.wa_id)?,
                user_id_ct: seal("user_id", &customer.user_id)?,
                created_at: now,
            };
            let cached = CachedContact {
                key_id: contact.key_id.clone(),
                has_wa: AtomicBool::new(blinds.wa.is_some()),
                has_user: AtomicBool::new(blinds.user.is_some()),
                name_hash: AtomicU64::new(0),
                id,
                conversation_id: contact.conversation_id.clone(),
                key,
            };
            write.contacts.push(contact);
            cached
        };
        if self.contacts.len() >= CONTACT_CACHE_LIMIT {
            self.contacts.clear();
        }
        let contact = Arc::new(contact);
        for blind in wanted {
            self.contacts.insert(blind, contact.clone());
        }
        Ok(contact)
    }

    /// Opens (or, after a shred, replaces) the key of a contact read from the store.
    async fn cached_from_row(
        &self,
        row: crate::store::ContactKeyRow,
    ) -> Result<CachedContact, IngestError> {
        let mut key_id = row.key_id.clone().unwrap_or_default();
        let key = match (&row.master_version, &row.sealed_key) {
            (Some(version), Some(sealed)) => {
                let sealed = crate::store::SealedKeyRow {
                    master_version: *version,
                    sealed_key: sealed.clone(),
                };
                self.deps.keys.open_contact_key(&sealed, &row.id)?
            }
            _ => {
                // The key was shredded (erasure); new messages get a new key.
                let (key, sealed) = self.deps.keys.new_contact_key(&row.id)?;
                key_id = Uuid::new_v4().to_string();
                self.deps
                    .store
                    .rekey_contact(&row.id, &sealed, &key_id)
                    .await?;
                key
            }
        };
        Ok(CachedContact {
            key_id,
            has_wa: AtomicBool::new(row.wa_blind.is_some()),
            has_user: AtomicBool::new(row.user_blind.is_some()),
            name_hash: AtomicU64::new(0),
            id: row.id,
            conversation_id: row.conversation_id,
            key,
        })
    }

    /// Looks up, in one query, every contact of the group that is not cached yet, so that a
    /// group with many new customers costs one round trip, not one per customer.
    async fn prefetch_contacts(
        &mut self,
        senders: impl Iterator<Item = &Blinds>,
    ) -> Result<(), IngestError> {
        self.absent.clear();
        let mut wanted: Vec<Vec<u8>> = Vec::new();
        for blinds in senders {
            let known = [&blinds.wa, &blinds.user]
                .into_iter()
                .flatten()
                .any(|b| self.contacts.contains_key(b));
            if !known {
                wanted.extend([&blinds.wa, &blinds.user].into_iter().flatten().cloned());
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let rows = self.deps.store.find_contacts(&wanted).await?;
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for row in rows {
            let blinds: Vec<Vec<u8>> = [&row.wa_blind, &row.user_blind]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            if blinds.iter().any(|b| self.contacts.contains_key(b)) {
                continue;
            }
            seen.extend(blinds.iter().cloned());
            let contact = Arc::new(self.cached_from_row(row).await?);
            for blind in blinds {
                self.contacts.insert(blind, contact.clone());
            }
        }
        self.absent = wanted.into_iter().filter(|b| !seen.contains(b)).collect();
        Ok(())
    }

    /// Records a number or BSUID a known contact did not have yet, so later messages that carry
    /// only the other identifier reach the same conversation.
    #[allow(
        clippy::too_many_lines,
        reason = "check, seal and record one link; the steps share the same locals"
    )]
    async fn link_new_identifiers(
        &mut self,
        contact: &Arc<CachedContact>,
        blinds: &Blinds,
        customer: &CustomerRef,
        write: &mut IngestWrite,
    ) -> Result<(), IngestError> {
        let new_wa = (!contact.has_wa.load(Ordering::Relaxed))
            .then(|| blinds.wa.clone())
            .flatten()
            .filter(|_| customer.wa_id.is_some());
        let new_user = (!contact.has_user.load(Ordering::Relaxed))
            .then(|| blinds.user.clone())
            .flatten();
        if new_wa.is_none() && new_user.is_none() {
            return Ok(());
        }
        // An identifier another contact already holds stays with that contact.
        let candidates: Vec<Vec<u8>> = [&new_wa, &new_user]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let taken = self.deps.store.find_contacts(&candidates).await?;
        // Checked once per process: whatever the answer, do not look again for this contact.
        contact.has_wa.fetch_or(new_wa.is_some(), Ordering::Relaxed);
        contact
            .has_user
            .fetch_or(new_user.is_some(), Ordering::Relaxed);
        let is_free = |blind: &Vec<u8>| {
            let in_db = taken.iter().any(|row| {
                row.id != contact.id
                    && (row.wa_blind.as_ref() == Some(blind)
                        || row.user_blind.as_ref() == Some(blind))
            });
            let in_cache = self
                .contacts
                .get(blind)
                .is_some_and(|other| other.id != contact.id);
            !in_db && !in_cache
        };
        let new_wa = new_wa.filter(is_free);
        let new_user = new_user.filter(is_free);
        if new_wa.is_none() && new_user.is_none() {
            return Ok(());
        }
        let seal = |column: &str, value: Option<&str>| -> Result<Option<Vec<u8>>, IngestError> {
            value
                .map(|v| {
                    contact
                        .key
                        .seal(&Aad::field("contacts", column, &contact.id), v.as_bytes())
                })
                .transpose()
                .map_err(IngestError::from_crypto)
        };
        write.links.push(ContactLink {
            contact_id: contact.id.clone(),
            wa_id_ct: if new_wa.is_some() {
                seal("wa_id", customer.wa_id.as_deref())?
            } else {
                None
            },
            user_id_ct: if new_user.is_some() {
                seal("user_id", customer.user_id.as_deref())?
            } else {
                None
            },
            wa_blind: new_wa.clone(),
            user_blind: new_user.clone(),
        });
        for blind in [new_wa, new_user].into_iter().flatten() {
            self.contacts.insert(blind, contact.clone());
        }
        Ok(())
    }

    #[allow(
        clippy::too_many_lines,
        reason = "maps one parsed message to its sealed rows, field by field"
    )]
    async fn add_message(
        &mut self,
        message: &InboundMessage,
        blinds: &Blinds,
        now: i64,
        write: &mut IngestWrite,
    ) -> Result<(), IngestError> {
        let channel_id = self.channel_id(message, now).await?;
        let contact = self
            .contact(&message.customer, blinds, &channel_id, now, write)
            .await?;
        let id = Uuid::now_v7().to_string();
        let screened = crate::inbox::screen::inbound(&self.deps.guard, message);
        let content = serde_json::to_vec(&screened.content).map_err(|_| IngestError::Encode)?;
        let sealed = |column: &str, bytes: &[u8]| {
            contact
                .key
                .seal(&Aad::field("messages", column, &id), bytes)
                .map_err(IngestError::from_crypto)
        };
        let sent_at = plausible_time(message.timestamp_s, now);
        // The name is written only when it differs from the one last written for this contact.
        let renamed = |name: &str| {
            let hash = name_hash(name);
            contact.name_hash.swap(hash, Ordering::Relaxed) != hash
        };
        let touch = ContactTouch {
            key_id: contact.key_id.clone(),
            name_ct: match (&message.profile_name, message.echo) {
                (Some(name), false) if renamed(name) => {
                    let name = crate::inbox::screen::name(&self.deps.guard, name);
                    Some(contact.key.seal(
                        &Aad::field("contacts", "name", &contact.id),
                        name.as_bytes(),
                    )?)
                }
                _ => None,
            },
            last_inbound_at: if message.echo { 0 } else { sent_at },
        };
        let media = message
            .media
            .as_ref()
            .filter(|_| !message.echo)
            .map(|m| NewMedia {
                id: Uuid::now_v7().to_string(),
                message_id: id.clone(),
                contact_id: contact.id.clone(),
                direction: "in",
                meta_media_id: Some(m.id.clone()),
                mime: m.mime.clone(),
                sha256: m.sha256.clone(),
                state: "pending",
                size_bytes: None,
                created_at: now,
            });
        write.messages.push(InboundMessageWrite {
            message: NewMessage {
                content_ct: sealed("content", &content)?,
                raw_ct: Some(sealed("raw", &screened.raw)?),
                id,
                conversation_id: contact.conversation_id.clone(),
                contact_id: contact.id.clone(),
                wamid: Some(message.wamid.clone()),
                direction: if message.echo { "out" } else { "in" },
                kind: message.kind.clone(),
                context_wamid: message.context_wamid.clone(),
                status: if message.echo { "sent" } else { "received" },
                status_rank: if message.echo { 20 } else { 0 },
                sent_at,
                created_at: now,
            },
            touch,
            media,
        });
        Ok(())
    }

    fn status_row(
        &self,
        status: &StatusUpdate,
        now: i64,
        (slice, key): (&str, &DataKey),
    ) -> Result<NewStatus, IngestError> {
        let id = Uuid::now_v7().to_string();
        let blinds = self.blinds(&status.recipient);
        Ok(NewStatus {
            // The installation's key seals what no contact's key can: so the recipient's
            // number and user id are taken out first (the blind index links the status to the
            // contact), and erasing a contact leaves nothing of theirs under a key it cannot
            // shred.
            raw_ct: key.seal(
                &Aad::field("status_events", "raw", &id),
                &without_recipient(&status.raw),
            )?,
            id,
            wamid: status.wamid.clone(),
            status: status.status.clone(),
            status_rank: status.rank,
            error_code: status.error_code,
            error_title: status.error_title.clone(),
            recipient_blind: blinds.wa.or(blinds.user),
            occurred_at: plausible_time(status.timestamp_s, now),
            received_at: now,
            our_message_id: status.our_message_id.clone(),
            digest: self
                .deps
                .keys
                .blind("status", &String::from_utf8_lossy(&status.raw)),
            key_name: slice.to_owned(),
        })
    }
}

/// A raw status event without the recipient's identifiers (`recipient_id`, `recipient_user_id`,
/// and the same inside `recipient` objects); unreadable JSON is not kept at all.
fn without_recipient(raw: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(raw) else {
        return b"{}".to_vec();
    };
    if let Some(fields) = value.as_object_mut() {
        for key in ["recipient_id", "recipient_user_id", "recipient"] {
            fields.remove(key);
        }
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

/// How far back Meta's time of a message may lie: Meta redelivers a webhook for up to 7 days.
const MAX_DELIVERY_DELAY_MS: i64 = 7 * 86_400_000;

/// Meta's time of a message or status (Unix seconds) when it can be real: not in the future of
/// our clock (a small skew is the receive time) and not older than Meta keeps redelivering;
/// otherwise the receive time. What Meta sent stays in the raw payload for the record; only
/// this time orders messages and opens the 24-hour window.
fn plausible_time(meta_s: Option<i64>, now: i64) -> i64 {
    match meta_s.and_then(|s| s.checked_mul(1000)) {
        Some(ms) if ms > now => now,
        Some(ms) if ms >= now.saturating_sub(MAX_DELIVERY_DELAY_MS) => ms,
        _ => now,
    }
}

/// An in-memory fingerprint of a name (never stored); 0 is reserved for "unknown".
fn name_hash(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish() | 1
}

impl IngestError {
    fn from_crypto(e: veil_crypto::CryptoError) -> Self {
        Self::Keys(KeyError::Crypto(e))
    }
}

impl From<veil_crypto::CryptoError> for IngestError {
    fn from(e: veil_crypto::CryptoError) -> Self {
        Self::from_crypto(e)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn status_payloads_lose_the_recipients_identifiers() {
        let raw = br#"{"id":"wamid.1","status":"read","recipient_id":"4915112345678","recipient_user_id":"US.1","timestamp":"1"}"#;
        let kept = String::from_utf8(without_recipient(raw)).unwrap();
        assert!(
            !kept.contains("4915112345678") && !kept.contains("US.1"),
            "{kept}"
        );
        assert!(kept.contains("\"status\":\"read\""), "{kept}");
        assert_eq!(without_recipient(b"not json"), b"{}");
    }

    #[test]
    fn times_that_cannot_be_real_give_way_to_the_receive_time() {
        let now = 1_800_000_000_000;
        assert_eq!(plausible_time(Some(1_799_999_990), now), 1_799_999_990_000);
        assert_eq!(plausible_time(Some(-5), now), now, "negative");
        assert_eq!(plausible_time(Some(0), now), now, "1970");
        assert_eq!(plausible_time(Some(9_999_999_999), now), now, "far future");
        assert_eq!(plausible_time(Some(i64::MAX), now), now, "overflow");
        assert_eq!(plausible_time(None, now), now);
        assert_eq!(
            plausible_time(Some(now / 1000 - 8 * 86_400), now),
            now,
            "older than Meta redelivers"
        );
    }
}
