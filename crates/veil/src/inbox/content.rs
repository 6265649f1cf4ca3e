//! The content of a message as Veil stores it (sealed, as JSON): made from Meta's message object
//! on the way in, from the agent's request on the way out, with the guard's verdict beside it.
//! A storage format, not an API; `whatsapp` knows only Meta's formats.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::guard::Verdict;
use crate::whatsapp::webhook::{MEDIA_KINDS, declared_type, kind_of, text_sources};

/// The display-side content of a message, stored sealed as JSON. A storage format, not an API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The type-specific object (location, reaction, interactive reply, …) as Meta sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// Errors Meta attached to the message (e.g. 131051 for unsupported types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Value>,
    /// Template name and parameters, for outbound templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// What the guard found and did (set by Veil when storing; webhooks are parsed by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Verdict>,
}

/// The display content of a message object: text, caption, file name, and the type-specific
/// object (with referral and context) as detail. Pure: the ingest writer applies it to the
/// screened object only, so the stored content is made from screened strings alone.
pub fn content_of(message: &Value) -> Content {
    content_from(message.clone())
}

/// `content_of` for an object the caller gives up: its parts move into the content.
pub fn content_from(mut message: Value) -> Content {
    let declared = declared_type(&message).to_owned();
    let kind = kind_of(&declared);
    let at = |pointer: Option<String>| {
        pointer
            .and_then(|p| message.pointer(&p))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (text, caption) = text_sources(&message);
    let mut content = Content {
        text: at(text),
        caption: at(caption),
        filename: MEDIA_KINDS
            .contains(&declared.as_str())
            .then(|| at(Some(format!("/{declared}/filename"))))
            .flatten(),
        ..Content::default()
    };
    let unsupported = kind == "unsupported";
    // Keep the type-specific object (and referral / forwarded markers) for display; it is sealed.
    let mut detail = Map::new();
    if let Some(fields) = message.as_object_mut() {
        content.errors = fields.remove("errors");
        for key in [declared.as_str(), "referral", "context"] {
            if let Some(part) = fields.remove(key) {
                detail.insert(key.to_owned(), part);
            }
        }
    }
    if unsupported {
        detail.insert("declared_type".into(), Value::String(declared.clone()));
    }
    content.detail = (!detail.is_empty()).then_some(Value::Object(detail));
    content
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::whatsapp::webhook::{WebhookItem, parse};

    fn first_message(body: &[u8]) -> Value {
        let items = parse(body).unwrap();
        let [WebhookItem::Message(m)] = items.as_slice() else {
            panic!("{items:?}")
        };
        m.object.clone()
    }

    #[test]
    fn text_becomes_the_stored_text() {
        let object = first_message(br#"{"entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},
            "messages":[{"from":"4915112345678","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"Hallo"}}]}}]}]}"#);
        assert_eq!(content_of(&object).text.as_deref(), Some("Hallo"));
    }

    #[test]
    fn unknown_types_keep_their_declared_type() {
        let object = first_message(br#"{"entry":[{"changes":[{"value":{"messages":[{"from":"1","id":"w","type":"hologram","hologram":{"x":1}}]}}]}]}"#);
        let content = content_from(object);
        assert_eq!(
            content.detail.as_ref().unwrap()["declared_type"],
            "hologram"
        );
        assert_eq!(content.detail.as_ref().unwrap()["hologram"]["x"], 1);
    }
}
