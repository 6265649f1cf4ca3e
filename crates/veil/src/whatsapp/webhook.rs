//! Meta's webhook JSON, parsed once at the edge into `WebhookItem`s.
//!
//! Parsing is lenient where Meta (or the fixtures of real clients) varies: timestamps as strings or
//! numbers, missing `metadata`, `field` or `from`, unknown message types, several entries × changes
//! × items per POST. Nothing a signed payload carries is dropped: unknown message types become
//! `unsupported` with their raw JSON, unknown fields become events. Never logs a payload: payloads
//! carry phone numbers and text.

use serde_json::Value;

/// The payload was not a JSON object of the webhook shape.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookParseError {
    #[error("body is not valid JSON")]
    NotJson,
    #[error("body is not a webhook envelope")]
    NotEnvelope,
}

/// Who a message is from or a status is about: a phone number (`wa_id`), a business-scoped user
/// id (BSUID, 2026) or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerRef {
    pub wa_id: Option<String>,
    pub user_id: Option<String>,
}

/// Inbound media referenced by a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub id: String,
    pub mime: Option<String>,
    pub sha256: Option<String>,
}

/// A message from a customer (or an echo of one the business sent from the WhatsApp Business app).
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub phone_number_id: Option<String>,
    pub display_phone_number: Option<String>,
    pub customer: CustomerRef,
    pub profile_name: Option<String>,
    pub wamid: String,
    pub timestamp_s: Option<i64>,
    pub kind: String,
    pub context_wamid: Option<String>,
    pub media: Option<MediaRef>,
    /// True for `smb_message_echoes`: sent by the business, not the customer.
    pub echo: bool,
    /// The message object as Meta sent it, unscreened: never stored or shown as it is. Its stored
    /// form (content and raw payload) is built from the screened object by `screen::inbound`.
    pub object: Value,
}

/// One status item.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub wamid: String,
    pub status: String,
    pub rank: i64,
    pub timestamp_s: Option<i64>,
    pub recipient: CustomerRef,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub our_message_id: Option<String>,
    pub raw: Vec<u8>,
}

/// Everything one webhook POST carried.
#[derive(Debug, Clone)]
pub enum WebhookItem {
    Message(Box<InboundMessage>),
    Status(StatusUpdate),
    Event { field: String, raw: Vec<u8> },
}

/// Prefix of `biz_opaque_callback_data` on Veil's own sends.
pub const OPAQUE_PREFIX: &str = "veil:";

/// Status order: a status only replaces a lower one, so duplicates and late arrivals change nothing.
pub fn status_rank(status: &str) -> i64 {
    match status {
        "accepted" => 10,
        "sent" => 20,
        "delivered" => 30,
        "failed" => 35,
        "read" => 40,
        "played" => 50,
        _ => 0,
    }
}

/// Parses a whole webhook body.
pub fn parse(body: &[u8]) -> Result<Vec<WebhookItem>, WebhookParseError> {
    let mut root: Value = serde_json::from_slice(body).map_err(|_| WebhookParseError::NotJson)?;
    let entries = root
        .as_object_mut()
        .and_then(|o| o.get_mut("entry"))
        .and_then(Value::as_array_mut)
        .ok_or(WebhookParseError::NotEnvelope)?;
    let mut items = Vec::new();
    for entry in entries {
        let changes = entry.get_mut("changes").and_then(Value::as_array_mut);
        for change in changes.into_iter().flatten() {
            parse_change(change, &mut items);
        }
    }
    Ok(items)
}

fn parse_change(change: &mut Value, items: &mut Vec<WebhookItem>) {
    let field = change
        .get("field")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let value = change.get("value").unwrap_or(&Value::Null);
    let carries_messages = ["messages", "statuses", "message_echoes"]
        .iter()
        .any(|k| value.get(*k).is_some());
    let of_messages = matches!(
        field.as_deref(),
        Some("messages" | "smb_message_echoes") | None
    );
    if !(of_messages && carries_messages) {
        items.push(WebhookItem::Event {
            field: field.unwrap_or_else(|| "unknown".to_owned()),
            raw: serde_json::to_vec(change).unwrap_or_default(),
        });
        return;
    }
    // Message objects are moved out of the envelope, not copied.
    let mut lists = [("messages", false), ("message_echoes", true)].map(|(list, echo)| {
        let taken = change
            .get_mut("value")
            .and_then(|v| v.get_mut(list))
            .map(Value::take);
        (taken, echo)
    });
    let value = change.get("value").unwrap_or(&Value::Null);
    parse_messages_value(value, &mut lists, items);
}

fn parse_messages_value(
    value: &Value,
    lists: &mut [(Option<Value>, bool); 2],
    items: &mut Vec<WebhookItem>,
) {
    let metadata = value.get("metadata");
    let phone_number_id = str_at(metadata, "phone_number_id");
    let display = str_at(metadata, "display_phone_number");
    let contacts: &[Value] = value
        .get("contacts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    for (list, echo) in lists.iter_mut() {
        let echo = *echo;
        let Some(Value::Array(messages)) = list.take() else {
            continue;
        };
        for message in messages {
            let parsed = parse_message(
                message,
                contacts,
                echo,
                phone_number_id.clone(),
                display.clone(),
            );
            items.push(WebhookItem::Message(Box::new(parsed)));
        }
    }
    for status in value
        .get("statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        items.push(WebhookItem::Status(parse_status(status)));
    }
    if let Some(errors) = value.get("errors") {
        items.push(WebhookItem::Event {
            field: "errors".into(),
            raw: serde_json::to_vec(errors).unwrap_or_default(),
        });
    }
}

fn str_at(object: Option<&Value>, key: &str) -> Option<String> {
    object
        .and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn timestamp(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Digits of a phone number, as blind indexes and masking need them.
pub fn normalise_number(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty() && digits.len() <= 20).then_some(digits)
}

fn customer_of(message: &Value, contacts: &[Value], echo: bool) -> (CustomerRef, Option<String>) {
    let (number_key, user_key) = if echo {
        ("to", "to_user_id")
    } else {
        ("from", "from_user_id")
    };
    let mut customer = CustomerRef {
        wa_id: message
            .get(number_key)
            .and_then(Value::as_str)
            .and_then(normalise_number),
        user_id: message
            .get(user_key)
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    // The contact entry that matches the sender, or the only one there is.
    let matching = contacts.iter().find(|c| {
        let wa = c
            .get("wa_id")
            .and_then(Value::as_str)
            .and_then(normalise_number);
        let user = c.get("user_id").and_then(Value::as_str).map(str::to_owned);
        (wa.is_some() && wa == customer.wa_id) || (user.is_some() && user == customer.user_id)
    });
    let contact = matching.or(if contacts.len() == 1 && !echo {
        contacts.first()
    } else {
        None
    });
    if let Some(contact) = contact {
        if customer.wa_id.is_none() {
            customer.wa_id = contact
                .get("wa_id")
                .and_then(Value::as_str)
                .and_then(normalise_number);
        }
        if customer.user_id.is_none() {
            customer.user_id = contact
                .get("user_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    let profile = contact.and_then(|c| c.get("profile"));
    let name = str_at(profile, "name").or_else(|| str_at(profile, "username"));
    (customer, name)
}

fn parse_message(
    message: Value,
    contacts: &[Value],
    echo: bool,
    phone_number_id: Option<String>,
    display: Option<String>,
) -> InboundMessage {
    let m = &message;
    let wamid = m
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .map_or_else(
            || synthetic_id(&serde_json::to_vec(m).unwrap_or_default()),
            str::to_owned,
        );
    let declared = declared_type(m);
    let (customer, profile_name) = customer_of(m, contacts, echo);
    let kind = kind_of(declared).to_owned();
    let media = media_of(declared, m);
    let timestamp_s = timestamp(m.get("timestamp"));
    let context_wamid = m
        .get("context")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    InboundMessage {
        phone_number_id,
        display_phone_number: display,
        customer,
        profile_name,
        wamid,
        timestamp_s,
        kind,
        media,
        context_wamid,
        echo,
        object: message,
    }
}

/// A stable id for a message that came without one, so redelivery is still absorbed.
fn synthetic_id(raw: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = veil_crypto::TokenHash::of(&String::from_utf8_lossy(raw));
    digest
        .0
        .iter()
        .take(16)
        .fold(String::from("veil.noid."), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

pub const MEDIA_KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];
const KNOWN_KINDS: [&str; 17] = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "button",
    "order",
    "system",
    "request_welcome",
    "edit",
    "revoke",
    "unsupported",
];

pub fn declared_type(message: &Value) -> &str {
    message
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// The kind Veil stores for a declared type: unknown types are `unsupported`.
pub fn kind_of(declared: &str) -> &str {
    if KNOWN_KINDS.contains(&declared) {
        declared
    } else {
        "unsupported"
    }
}

fn media_of(declared: &str, message: &Value) -> Option<MediaRef> {
    if !MEDIA_KINDS.contains(&declared) {
        return None;
    }
    let object = message.get(declared)?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(MediaRef {
        id: text("id")?,
        mime: text("mime_type"),
        sha256: text("sha256"),
    })
}

/// Where a message's display text and caption are (JSON pointers into the message object).
pub fn text_sources(message: &Value) -> (Option<String>, Option<String>) {
    let declared = declared_type(message);
    let text = match kind_of(declared) {
        "text" | "system" => Some(format!("/{declared}/body")),
        "button" => Some("/button/text".to_owned()),
        "reaction" => Some("/reaction/emoji".to_owned()),
        "location" => Some("/location/name".to_owned()),
        "interactive" => ["button_reply", "list_reply"]
            .into_iter()
            .find(|reply| message.pointer(&format!("/interactive/{reply}")).is_some())
            .map(|reply| format!("/interactive/{reply}/title")),
        _ => None,
    };
    let caption = MEDIA_KINDS
        .contains(&declared)
        .then(|| format!("/{declared}/caption"));
    (text, caption)
}

fn parse_status(status: &Value) -> StatusUpdate {
    let raw = serde_json::to_vec(status).unwrap_or_default();
    let name = status
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let first_error = status
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first());
    StatusUpdate {
        wamid: status
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| synthetic_id(&raw), str::to_owned),
        rank: status_rank(&name),
        status: name,
        timestamp_s: timestamp(status.get("timestamp")),
        recipient: CustomerRef {
            wa_id: status
                .get("recipient_id")
                .and_then(Value::as_str)
                .and_then(normalise_number),
            user_id: status
                .get("recipient_user_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        error_code: first_error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_i64),
        error_title: first_error
            .and_then(|e| e.get("title").or_else(|| e.get("message")))
            .and_then(Value::as_str)
            .map(str::to_owned),
        our_message_id: status
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix(OPAQUE_PREFIX))
            .map(str::to_owned),
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_bodies_are_told_apart() {
        assert_eq!(parse(b"{nope").err(), Some(WebhookParseError::NotJson));
        assert_eq!(parse(b"[1,2]").err(), Some(WebhookParseError::NotEnvelope));
        assert_eq!(
            parse(b"{\"object\":\"x\"}").err(),
            Some(WebhookParseError::NotEnvelope)
        );
        assert!(parse(b"{\"entry\":[]}").unwrap().is_empty());
    }

    #[test]
    fn text_message_yields_customer_name_and_body() {
        let body = br#"{"entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},
            "contacts":[{"profile":{"name":"Ana"},"wa_id":"4915112345678"}],
            "messages":[{"from":"4915112345678","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"Hallo"}}]}}]}]}"#;
        let items = parse(body).unwrap();
        let [WebhookItem::Message(m)] = items.as_slice() else {
            panic!("{items:?}")
        };
        assert_eq!(m.customer.wa_id.as_deref(), Some("4915112345678"));
        assert_eq!(m.profile_name.as_deref(), Some("Ana"));
        assert_eq!(
            m.object.pointer("/text/body").and_then(Value::as_str),
            Some("Hallo")
        );
        assert_eq!(m.timestamp_s, Some(1_700_000_000));
        assert_eq!(m.phone_number_id.as_deref(), Some("1"));
    }

    #[test]
    fn unknown_types_are_kept_as_unsupported() {
        let body = br#"{"entry":[{"changes":[{"value":{"messages":[{"from":"1","id":"w","type":"hologram","hologram":{"x":1}}]}}]}]}"#;
        let items = parse(body).unwrap();
        let [WebhookItem::Message(m)] = items.as_slice() else {
            panic!()
        };
        assert_eq!(m.kind, "unsupported");
        assert_eq!(declared_type(&m.object), "hologram");
    }

    #[test]
    fn statuses_rank_and_echo_our_id() {
        let body = br#"{"entry":[{"changes":[{"field":"messages","value":{"statuses":[
            {"id":"wamid.B","status":"failed","timestamp":1,"recipient_id":"+1 555","biz_opaque_callback_data":"veil:m-1","errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}"#;
        let items = parse(body).unwrap();
        let [WebhookItem::Status(s)] = items.as_slice() else {
            panic!()
        };
        assert_eq!(
            (s.rank, s.error_code, s.our_message_id.as_deref()),
            (35, Some(131_047), Some("m-1"))
        );
        assert_eq!(s.recipient.wa_id.as_deref(), Some("1555"));
        assert!(
            status_rank("read") > status_rank("failed")
                && status_rank("failed") > status_rank("delivered")
        );
    }

    #[test]
    fn other_fields_become_events() {
        let body = br#"{"entry":[{"changes":[{"field":"account_update","value":{"event":"X"}}]}]}"#;
        let items = parse(body).unwrap();
        assert!(
            matches!(items.as_slice(), [WebhookItem::Event { field, .. }] if field == "account_update")
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_envelope_shaped_json(kind in "[a-z_]{0,12}", id in ".{0,40}", ts in any::<i64>()) {
            let body = serde_json::json!({"entry":[{"changes":[{"value":{"messages":[{"type": kind, "id": id, "timestamp": ts, kind.clone(): {"id": 5}}],
                "statuses":[{"id": id, "status": kind, "errors": [{"code": "x"}]}]}}]}]});
            let _ = parse(&serde_json::to_vec(&body).unwrap());
        }
    }
}
