//! From an outbox row to the Graph API request that sends it (and what it cannot be).

use serde_json::{Value, json};
use uuid::Uuid;

use super::{OutboundError, OutboundRequest, PENDING_MEDIA_ID};
use crate::inbox::Content;
use crate::whatsapp::webhook::OPAQUE_PREFIX;

pub(super) struct Prepared {
    pub(super) kind: String,
    pub(super) request: Value,
    pub(super) content: Content,
    pub(super) media: Option<(String, Vec<u8>, String)>,
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per kind of request; each arm is short"
)]
pub(super) fn prepare(
    request: OutboundRequest,
    message_id: &str,
    recipient: &Value,
) -> Result<Prepared, OutboundError> {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "biz_opaque_callback_data": format!("{OPAQUE_PREFIX}{message_id}")});
    if let (Some(body), Some(recipient)) = (body.as_object_mut(), recipient.as_object()) {
        body.extend(recipient.clone());
    }
    let (kind, object, content, media) = match request {
        OutboundRequest::Text {
            body: text,
            reply_to,
        } => {
            if text.trim().is_empty() || text.chars().count() > 4096 {
                return Err(OutboundError::Invalid(
                    "text must have 1 to 4096 characters",
                ));
            }
            if let (Some(reply_to), Some(obj)) = (reply_to, body.as_object_mut()) {
                obj.insert("context".into(), json!({"message_id": reply_to}));
            }
            (
                "text".to_owned(),
                json!({"body": text, "preview_url": false}),
                Content {
                    text: Some(text),
                    ..Content::default()
                },
                None,
            )
        }
        OutboundRequest::Template {
            name,
            language,
            params,
        } => {
            let valid_name = !name.is_empty()
                && name.len() <= 512
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name || language.is_empty() || language.len() > 16 {
                return Err(OutboundError::Invalid(
                    "template needs a name (letters, digits, _) and a language code",
                ));
            }
            let parameters: Vec<Value> = params
                .iter()
                .map(|p| json!({"type": "text", "text": p}))
                .collect();
            let components = if parameters.is_empty() {
                json!([])
            } else {
                json!([{"type": "body", "parameters": parameters}])
            };
            let template =
                json!({"name": name, "language": {"code": language}, "components": components});
            let content = Content {
                template: Some(json!({"name": name, "language": language, "params": params})),
                ..Content::default()
            };
            ("template".to_owned(), template, content, None)
        }
        OutboundRequest::Media {
            bytes,
            mime,
            filename,
            caption,
        } => {
            let (kind, limit) = crate::whatsapp::media_kind::media_kind(&mime).ok_or(
                OutboundError::Invalid("this file type cannot be sent on WhatsApp"),
            )?;
            if bytes.is_empty() || bytes.len() > limit {
                return Err(OutboundError::Invalid(
                    "file is empty or larger than WhatsApp allows for its type",
                ));
            }
            if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
                return Err(OutboundError::Invalid(
                    "caption must have at most 1024 characters",
                ));
            }
            let mut object = json!({"id": PENDING_MEDIA_ID});
            if let Some(obj) = object.as_object_mut() {
                if let Some(caption) = caption
                    .clone()
                    .filter(|_| matches!(kind, "image" | "video" | "document"))
                {
                    obj.insert("caption".into(), json!(caption));
                }
                if kind == "document" {
                    obj.insert("filename".into(), json!(filename));
                }
            }
            let content = Content {
                caption,
                filename: Some(filename),
                ..Content::default()
            };
            (
                kind.to_owned(),
                object,
                content,
                Some((Uuid::now_v7().to_string(), bytes, mime)),
            )
        }
    };
    if let Some(obj) = body.as_object_mut() {
        obj.insert("type".into(), json!(kind));
        obj.insert(kind.clone(), object);
    }
    Ok(Prepared {
        kind,
        request: body,
        content,
        media,
    })
}
