//! The webhook emitter: signs exactly the bytes it sends, retries non-2xx with backoff, and plays
//! the status sequence sent → delivered → read for every accepted message, with optional
//! duplication and reordering.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::Rng;
use ring::hmac;
use serde_json::{Value, json};

use crate::state::{SimState, unix_now};
use crate::to_meta_json;

const MAX_ATTEMPTS: u32 = 8;

/// Starts the delivery loop. Deliveries run concurrently so one slow receiver call does not stall others.
pub fn start_emitter(state: Arc<SimState>) {
    let receiver = state
        .webhook_rx
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(mut receiver) = receiver else { return };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        while let Some(outgoing) = receiver.recv().await {
            let state = state.clone();
            let client = client.clone();
            tokio::spawn(async move {
                deliver(&state, &client, &outgoing.body).await;
                state.pending.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}

async fn deliver(state: &SimState, client: &reqwest::Client, body: &[u8]) {
    let Some(url) = state.config.webhook_url.clone() else {
        return;
    };
    let signature = sign(&state.config.app_secret, body);
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        let result = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .body(body.to_vec())
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                tracing::warn!(status = %response.status(), attempt, "webhook refused; will retry");
            }
            Err(err) => {
                tracing::warn!(error = %err, attempt, "webhook delivery failed; will retry");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    tracing::error!("webhook dropped after {MAX_ATTEMPTS} attempts");
}

fn sign(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// Wraps one change value in Meta's envelope and queues it.
pub fn queue_change(state: &SimState, field: &str, value: &Value) {
    let envelope = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": state.config.waba_id, "changes": [{"value": value, "field": field}]}]
    });
    match to_meta_json(&envelope) {
        Ok(body) => state.queue_webhook(body),
        Err(err) => tracing::error!(error = %err, "could not serialise a webhook"),
    }
}

/// The `metadata` object of every `messages` change.
pub fn metadata(state: &SimState) -> Value {
    json!({
        "display_phone_number": state.config.display_phone_number,
        "phone_number_id": state.config.phone_number_id,
    })
}

/// A BSUID for a number, stable per number (2026 payloads carry one beside `wa_id`).
pub fn user_id_for(number: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, number.as_bytes());
    let digits: String = digest
        .as_ref()
        .iter()
        .take(10)
        .fold(String::new(), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{:02}", b % 100);
            out
        });
    format!("US.{digits}")
}

/// Plays the statuses for one accepted message in the background.
/// Plays the statuses for one accepted message in the background. Counted in `pending` until the
/// last status is queued, so `pending_webhooks() == 0` means nothing more is coming.
pub fn play_statuses(
    state: Arc<SimState>,
    wamid: String,
    to: String,
    opaque: Option<String>,
    failure: Option<(i64, &'static str)>,
) {
    state.pending.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        play(&state, &wamid, &to, opaque.as_deref(), failure).await;
        state.pending.fetch_sub(1, Ordering::SeqCst);
    });
}

async fn play(
    state: &Arc<SimState>,
    wamid: &str,
    to: &str,
    opaque: Option<&str>,
    failure: Option<(i64, &'static str)>,
) {
    {
        let step = Duration::from_millis(state.config.status_step_ms);
        if let Some((code, title)) = failure {
            tokio::time::sleep(step).await;
            emit_status(state, wamid, to, "failed", opaque, Some((code, title)));
            return;
        }
        let (reorder, duplicate_roll): (bool, f64) = {
            let mut inner = state.lock();
            let reorder = inner
                .rng
                .random_bool(state.config.reorder_rate.clamp(0.0, 1.0));
            (reorder, inner.rng.random())
        };
        let mut steps = vec!["sent", "delivered"];
        if state.config.emit_read {
            steps.push("read");
        }
        if reorder && steps.len() == 3 {
            steps.swap(1, 2);
        }
        for status in steps {
            tokio::time::sleep(step).await;
            emit_status(state, wamid, to, status, opaque, None);
            if duplicate_roll < state.config.duplicate_rate {
                emit_status(state, wamid, to, status, opaque, None);
            }
        }
    }
}

fn emit_status(
    state: &SimState,
    wamid: &str,
    to: &str,
    status: &str,
    opaque: Option<&str>,
    error: Option<(i64, &str)>,
) {
    let mut item = json!({
        "id": wamid,
        "status": status,
        "timestamp": unix_now().to_string(),
        "recipient_id": to,
        "recipient_user_id": user_id_for(to),
    });
    if let Some(obj) = item.as_object_mut() {
        if let Some(opaque) = opaque {
            obj.insert("biz_opaque_callback_data".into(), json!(opaque));
        }
        if status == "sent" {
            obj.insert(
                "pricing".into(),
                json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}),
            );
        }
        if let Some((code, title)) = error {
            obj.insert(
                "errors".into(),
                json!([{"code": code, "title": title, "message": title, "error_data": {"details": title}}]),
            );
        }
    }
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": metadata(state),
        "contacts": [{"wa_id": to, "user_id": user_id_for(to)}],
        "statuses": [item],
    });
    queue_change(state, "messages", &value);
}
