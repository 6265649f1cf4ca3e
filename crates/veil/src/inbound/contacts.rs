//! Who a webhook is about: the channel, the contact found by blind index (cached, prefetched for
//! a whole group) or created with a fresh data key, and new identifiers linked to it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use uuid::Uuid;
use veil_crypto::Aad;

use super::{Blinds, CONTACT_CACHE_LIMIT, CachedContact, IngestError, Writer};
use crate::store::{ChannelRow, ContactLink, IngestWrite, NewContact};
use crate::whatsapp::webhook::{CustomerRef, InboundMessage};

impl Writer {
    pub(super) fn blinds(&self, customer: &CustomerRef) -> Blinds {
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

    pub(super) async fn channel_id(
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

    pub(super) async fn contact(
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
    pub(super) async fn load_or_create(
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
    pub(super) async fn cached_from_row(
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
    pub(super) async fn prefetch_contacts(
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
    pub(super) async fn link_new_identifiers(
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
}

/// An in-memory fingerprint of a name (never stored); 0 is reserved for "unknown".
pub(super) fn name_hash(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish() | 1
}
