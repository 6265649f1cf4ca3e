//! Row shapes passed to and from the store. Fields named `*_ct` hold ciphertext only.

/// A WhatsApp business number Veil serves.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelRow {
    pub id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    pub created_at: i64,
}

/// A data key sealed by a master key version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SealedKeyRow {
    pub master_version: i64,
    pub sealed_key: Vec<u8>,
}

/// What ingest needs to know about an existing contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactKeyRow {
    pub id: String,
    pub conversation_id: String,
    pub key_id: Option<String>,
    pub wa_blind: Option<Vec<u8>>,
    pub user_blind: Option<Vec<u8>>,
    pub master_version: Option<i64>,
    pub sealed_key: Option<Vec<u8>>,
}

/// A contact seen for the first time, with its conversation.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub id: String,
    pub channel_id: String,
    pub conversation_id: String,
    pub wa_blind: Option<Vec<u8>>,
    pub user_blind: Option<Vec<u8>>,
    pub key: SealedKeyRow,
    pub key_id: String,
    pub wa_id_ct: Option<Vec<u8>>,
    pub user_id_ct: Option<Vec<u8>>,
    pub created_at: i64,
}

/// A message to insert (inbound from a webhook, or outbound from an agent).
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub wamid: Option<String>,
    pub direction: &'static str,
    pub kind: String,
    pub content_ct: Vec<u8>,
    pub raw_ct: Option<Vec<u8>>,
    pub context_wamid: Option<String>,
    pub status: &'static str,
    pub status_rank: i64,
    pub sent_at: i64,
    pub created_at: i64,
}

/// Contact changes that come with a newly inserted inbound message.
#[derive(Debug, Clone)]
pub struct ContactTouch {
    /// The data key the message was sealed with; the write fails if the contact's key changed.
    pub key_id: String,
    pub name_ct: Option<Vec<u8>>,
    pub last_inbound_at: i64,
}

/// A media row: inbound media to fetch, or outbound media to upload.
#[derive(Debug, Clone)]
pub struct NewMedia {
    pub id: String,
    pub message_id: String,
    pub contact_id: String,
    pub direction: &'static str,
    pub meta_media_id: Option<String>,
    pub mime: Option<String>,
    pub sha256: Option<String>,
    pub state: &'static str,
    pub size_bytes: Option<i64>,
    pub created_at: i64,
}

/// One inbound message with what comes with it.
#[derive(Debug, Clone)]
pub struct InboundMessageWrite {
    pub message: NewMessage,
    pub touch: ContactTouch,
    pub media: Option<NewMedia>,
}

/// One status webhook item.
#[derive(Debug, Clone)]
pub struct NewStatus {
    pub id: String,
    pub wamid: String,
    pub status: String,
    pub status_rank: i64,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub recipient_blind: Option<Vec<u8>>,
    pub raw_ct: Vec<u8>,
    pub occurred_at: i64,
    pub received_at: i64,
    /// Our message id echoed back in `biz_opaque_callback_data`, if it was one of ours.
    pub our_message_id: Option<String>,
    /// Keyed digest of the raw status event: a replayed one is stored once.
    pub digest: Vec<u8>,
    /// The installation key slice that sealed `raw_ct`.
    pub key_name: String,
}

/// A non-message webhook change (`account_update`, template status, …), kept sealed.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub field: String,
    /// Keyed digest of field and payload, so a redelivery is absorbed.
    pub digest: Vec<u8>,
    pub raw_ct: Vec<u8>,
    pub received_at: i64,
    /// The installation key slice that sealed `raw_ct`.
    pub key_name: String,
}

/// Identifiers learnt later for a known contact (a BSUID beside a number, or the other way round).
#[derive(Debug, Clone)]
pub struct ContactLink {
    pub contact_id: String,
    pub wa_blind: Option<Vec<u8>>,
    pub wa_id_ct: Option<Vec<u8>>,
    pub user_blind: Option<Vec<u8>>,
    pub user_id_ct: Option<Vec<u8>>,
}

/// Everything one group of webhooks writes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct IngestWrite {
    pub contacts: Vec<NewContact>,
    pub links: Vec<ContactLink>,
    pub messages: Vec<InboundMessageWrite>,
    pub statuses: Vec<NewStatus>,
    pub events: Vec<NewEvent>,
}

/// What an ingest transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub messages_inserted: u64,
    pub duplicates: u64,
    pub statuses_applied: u64,
}

/// A conversation with the sealed contact fields needed to show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: String,
    pub contact_id: String,
    pub status: String,
    pub unread_count: i64,
    pub last_activity_at: i64,
    pub name_ct: Option<Vec<u8>>,
    pub wa_id_ct: Option<Vec<u8>>,
    pub user_id_ct: Option<Vec<u8>>,
    pub master_version: Option<i64>,
    pub sealed_key: Option<Vec<u8>>,
    pub last_inbound_at: Option<i64>,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub wamid: Option<String>,
    pub direction: String,
    pub kind: String,
    pub content_ct: Vec<u8>,
    pub context_wamid: Option<String>,
    pub status: String,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub sent_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub media_state: Option<String>,
}

/// A stored message's sealed payloads, for re-screening (`veil guard rescreen`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedMessageRow {
    pub id: String,
    pub contact_id: String,
    pub content_ct: Vec<u8>,
    pub raw_ct: Option<Vec<u8>>,
}

/// An outbox row to create with its message.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub id: String,
    pub message_id: String,
    pub contact_id: String,
    pub request_ct: Vec<u8>,
    pub now: i64,
    /// When the send is due: `now`, or a later time for a scheduled message.
    pub due: i64,
    /// `queued`, or `scheduled` (cancellable until the worker claims it).
    pub state: &'static str,
}

/// A claimed outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxClaim {
    pub id: String,
    pub message_id: String,
    pub contact_id: String,
    pub attempts: i64,
    pub request_ct: Vec<u8>,
}

/// A media row as the fetch job and the download route see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub id: String,
    pub message_id: String,
    pub contact_id: String,
    pub direction: String,
    pub meta_media_id: Option<String>,
    pub mime: Option<String>,
    pub sha256: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub size_bytes: Option<i64>,
}

/// Who owns a sealed key: a contact or an installation key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyOwnerRow {
    /// `contacts` or `installation_keys`.
    pub owner_table: String,
    pub owner_id: String,
    pub master_version: i64,
    pub sealed_key: Vec<u8>,
}
