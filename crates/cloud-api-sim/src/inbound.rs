//! Simulated customers: builds inbound `messages` webhooks of every type, the way Meta shapes them.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::state::{Media, SimState, unix_now};
use crate::webhooks::{metadata, queue_change, user_id_for};
use crate::{InboundSpec, SimError};

/// Emits one inbound message and returns its wamid.
pub fn emit(state: &SimState, spec: &InboundSpec) -> Result<String, SimError> {
    if spec.from.is_empty() || !spec.from.chars().all(|c| c.is_ascii_digit()) {
        return Err(SimError::Invalid("`from` must be digits".into()));
    }
    let wamid = state.new_wamid();
    let body = message_body(state, spec)?;
    let mut message = json!({
        "from": spec.from,
        "from_user_id": user_id_for(&spec.from),
        "id": wamid,
        "timestamp": unix_now().to_string(),
        "type": spec.kind,
    });
    if let (Some(obj), Some(extra)) = (message.as_object_mut(), body.as_object()) {
        for (key, value) in extra {
            obj.insert(key.clone(), value.clone());
        }
        if let Some(context) = spec
            .context_wamid
            .as_ref()
            .filter(|_| spec.kind != "reaction")
        {
            obj.insert(
                "context".into(),
                json!({"from": state.config.display_phone_number, "id": context}),
            );
        }
    }
    state
        .lock()
        .last_inbound
        .insert(spec.from.clone(), unix_now());
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(state),
        "contacts": [{"profile": {"name": spec.name}, "wa_id": spec.from, "user_id": user_id_for(&spec.from)}],
        "messages": [message],
    });
    queue_change(state, "messages", &value);
    Ok(wamid)
}

fn message_body(state: &SimState, spec: &InboundSpec) -> Result<Value, SimError> {
    let text = spec.text.clone();
    Ok(match spec.kind.as_str() {
        "text" => json!({"text": {"body": text}}),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let media = media_object(state, spec, &text);
            json!({ spec.kind.clone(): media })
        }
        "location" => {
            json!({"location": {"latitude": 52.52, "longitude": 13.405, "name": text, "address": "Pariser Platz"}})
        }
        "contacts" => {
            json!({"contacts": [{"name": {"formatted_name": text, "first_name": text}, "phones": [{"phone": "+15550009999", "type": "CELL"}]}]})
        }
        "reaction" => {
            let target = spec
                .context_wamid
                .clone()
                .ok_or_else(|| SimError::Invalid("a reaction needs context_wamid".into()))?;
            json!({"reaction": {"message_id": target, "emoji": if text.is_empty() { "👍".to_owned() } else { text }}})
        }
        "interactive" => {
            json!({"interactive": {"type": "button_reply", "button_reply": {"id": "btn-1", "title": text}}})
        }
        "button" => json!({"button": {"text": text, "payload": "payload-1"}}),
        "order" => json!({"order": {"catalog_id": "1000000000001", "text": text, "product_items": [
            {"product_retailer_id": "sku-1", "quantity": 2, "item_price": 9.5, "currency": "EUR"}]}}),
        "system" => {
            json!({"system": {"body": text, "type": "customer_changed_number", "wa_id": spec.from}})
        }
        "unsupported" => {
            json!({"errors": [{"code": 131_051, "title": "Message type unknown", "message": "Message type unknown", "error_data": {"details": "Message type is currently not supported."}}]})
        }
        other => return Err(SimError::Invalid(format!("unknown kind {other}"))),
    })
}

fn media_object(state: &SimState, spec: &InboundSpec, caption: &str) -> Value {
    let (kind, expired) = (spec.kind.as_str(), spec.expired_media);
    let (mime, bytes): (&str, Vec<u8>) = match kind {
        "document" if spec.file.is_some() => spec
            .file
            .as_ref()
            .map(|f| (f.mime.as_str(), f.bytes.clone()))
            .unwrap_or_default(),
        "image" => (
            "image/jpeg",
            fake_file(b"\xFF\xD8\xFF\xE0\x00\x10JFIF", 2048, state),
        ),
        "video" => (
            "video/mp4",
            fake_file(b"\x00\x00\x00\x18ftypmp42", 4096, state),
        ),
        "audio" => ("audio/ogg", fake_file(b"OggS", 1024, state)),
        "sticker" => (
            "image/webp",
            fake_file(b"RIFF\x00\x00\x00\x00WEBP", 512, state),
        ),
        _ => ("application/pdf", fake_file(b"%PDF-1.4\n", 1024, state)),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let id = format!(
        "{}",
        1_000_000_000_000_000u64 + u64::try_from(state.lock().media.len()).unwrap_or(0) * 7 + 3
    );
    let sha_hex = hex::encode(digest.as_ref());
    let sha_b64 = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    state.lock().media.insert(
        id.clone(),
        Media {
            bytes,
            mime: mime.to_owned(),
            sha256: sha_hex,
            expired,
        },
    );
    let mut object = json!({"id": id, "mime_type": mime, "sha256": sha_b64});
    if let Some(obj) = object.as_object_mut() {
        if !caption.is_empty() && matches!(kind, "image" | "video" | "document") {
            obj.insert("caption".into(), json!(caption));
        }
        if kind == "document" {
            let name = spec
                .file
                .as_ref()
                .map_or("invoice.pdf", |f| f.filename.as_str());
            obj.insert("filename".into(), json!(name));
        }
        if kind == "audio" {
            obj.insert("voice".into(), json!(true));
        }
    }
    object
}

fn fake_file(magic: &[u8], len: usize, state: &SimState) -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = magic.to_vec();
    let mut rest = vec![0u8; len.saturating_sub(magic.len())];
    state.lock().rng.fill_bytes(&mut rest);
    bytes.extend_from_slice(&rest);
    bytes
}
