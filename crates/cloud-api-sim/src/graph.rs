//! The Graph API subset and the simulator's own control routes (`/_sim/...`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde_json::{Value, json};

use crate::state::{Media, SentMessage, SimState, unix_now};
use crate::webhooks::play_statuses;
use crate::{Faults, InboundSpec};

type Shared = Arc<SimState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send_message))
        .route(
            "/{version}/{phone_number_id}/media",
            post(upload_media).layer(DefaultBodyLimit::max(110 * 1024 * 1024)),
        )
        .route(
            "/{version}/{media_id}",
            get(media_metadata).delete(delete_media),
        )
        .route("/download/{media_id}", get(download_media))
        .route("/_sim/health", get(|| async { "ok" }))
        .route("/_sim/inbound", post(sim_inbound))
        .route("/_sim/sent", get(sim_sent))
        .route("/_sim/faults", post(sim_faults))
        .with_state(state)
}

/// A Graph error response: `{"error": {message, type, code, error_data, fbtrace_id}}`.
fn graph_error(status: StatusCode, code: i64, title: &str, details: &str) -> Response {
    let body = json!({"error": {
        "message": format!("(#{code}) {title}"),
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AsimFbTrace0001",
    }});
    (status, Json(body)).into_response()
}

fn valid_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Checks the bearer token (or `?access_token=` as old clients send it).
fn authorize(
    state: &SimState,
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
) -> Result<(), Box<Response>> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| query.get("access_token").cloned());
    let expected = state.config.access_token.as_bytes();
    match presented {
        Some(token) if bool::from(subtle::ConstantTimeEq::ct_eq(token.as_bytes(), expected)) => {
            Ok(())
        }
        _ => Err(Box::new(graph_error(
            StatusCode::UNAUTHORIZED,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "Invalid OAuth access token",
        ))),
    }
}

type Q = Query<std::collections::HashMap<String, String>>;

async fn inject_latency(state: &SimState) {
    let latency = state.lock().faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
}

async fn send_message(
    State(state): State<Shared>,
    Path((version, phone_number_id)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorize(&state, &headers, &query) {
        return *response;
    }
    if !valid_version(&version) || phone_number_id != state.config.phone_number_id {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Unknown version or phone number id",
        );
    }
    inject_latency(&state).await;
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Request body is not JSON",
        );
    };
    if request.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "messaging_product must be whatsapp",
        );
    }
    if request.get("status").and_then(Value::as_str) == Some("read") {
        return Json(json!({"success": true})).into_response();
    }
    let send = match parse_send(&request) {
        Ok(send) => send,
        Err(details) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131_008,
                "Required parameter is missing",
                &details,
            );
        }
    };
    if let Some(response) = refuse_by_faults_or_limits(&state, &send.to) {
        return response;
    }
    accept(&state, send, request)
}

struct ParsedSend {
    to: String,
    kind: String,
    opaque: Option<String>,
}

fn parse_send(request: &Value) -> Result<ParsedSend, String> {
    let to = request
        .get("to")
        .and_then(Value::as_str)
        .or_else(|| request.get("recipient").and_then(Value::as_str))
        .map(|t| t.trim_start_matches('+').to_owned())
        .filter(|t| !t.is_empty())
        .ok_or("`to` is required")?;
    let kind = request
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    let object = request
        .get(kind.as_str())
        .filter(|v| !v.is_null())
        .ok_or(format!("`{kind}` object is required"))?;
    // Graph decodes parameters sent as JSON-encoded strings (whatsapp-api-js, chatwoot do this).
    let object = &decode_json_string(object);
    let ok = match kind.as_str() {
        "text" => object
            .get("body")
            .and_then(Value::as_str)
            .is_some_and(|b| !b.is_empty() && b.chars().count() <= 4096),
        "image" | "video" | "audio" | "document" | "sticker" => {
            object.get("id").is_some() || object.get("link").is_some()
        }
        "template" => object.get("name").and_then(Value::as_str).is_some(),
        "reaction" => object.get("message_id").and_then(Value::as_str).is_some(),
        "interactive" => {
            // chatwoot sends `action` as a JSON-encoded string; Graph decodes such params.
            object
                .get("action")
                .map(decode_json_string)
                .is_some_and(|a| a.is_object())
        }
        "location" => object.get("latitude").is_some() && object.get("longitude").is_some(),
        "contacts" => object.is_array(),
        _ => false,
    };
    if !ok {
        return Err(format!("`{kind}` is missing a required field"));
    }
    let opaque = request
        .get("biz_opaque_callback_data")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(ParsedSend { to, kind, opaque })
}

fn decode_json_string(value: &Value) -> Value {
    value
        .as_str()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .unwrap_or_else(|| value.clone())
}

fn refuse_by_faults_or_limits(state: &SimState, to: &str) -> Option<Response> {
    let mut inner = state.lock();
    if let Some((remaining, code)) = inner.faults.fail_next_with.filter(|(n, _)| *n > 0) {
        inner.faults.fail_next_with = (remaining > 1).then_some((remaining - 1, code));
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            code,
            "Injected failure",
            "fault injection",
        ));
    }
    if inner.faults.burst_429 > 0 {
        inner.faults.burst_429 -= 1;
        return Some(graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            130_429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        ));
    }
    let error_rate = inner.faults.error_rate.clamp(0.0, 1.0);
    if inner.rng.random_bool(error_rate) {
        return Some(graph_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            131_000,
            "Something went wrong",
            "fault injection",
        ));
    }
    if !inner.throughput.try_take(std::time::Instant::now()) {
        return Some(graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            130_429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        ));
    }
    drop(inner);
    if !state.pair_bucket_take(to) {
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            131_056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from this phone number to the same phone number in a short period of time.",
        ));
    }
    None
}

fn accept(state: &Shared, send: ParsedSend, request: Value) -> Response {
    let wamid = state.new_wamid();
    let window_open = {
        let inner = state.lock();
        inner
            .last_inbound
            .get(&send.to)
            .is_some_and(|at| unix_now().saturating_sub(*at) < 24 * 3600)
    };
    let failure = (state.config.enforce_window && send.kind != "template" && !window_open)
        .then_some((131_047, "Re-engagement message"));
    let dropped = {
        let mut inner = state.lock();
        let rate = inner.faults.drop_after_accept_rate.clamp(0.0, 1.0);
        let dropped = inner.rng.random_bool(rate);
        inner.sent.push(SentMessage {
            wamid: wamid.clone(),
            to: send.to.clone(),
            kind: send.kind.clone(),
            body: request,
            biz_opaque_callback_data: send.opaque.clone(),
            response_dropped: dropped,
        });
        dropped
    };
    play_statuses(
        state.clone(),
        wamid.clone(),
        send.to.clone(),
        send.opaque,
        failure,
    );
    if dropped {
        // Accepted, then the connection breaks mid-response: the caller cannot know.
        let stream = futures_once_error();
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": send.to, "wa_id": send.to}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }))
    .into_response()
}

fn futures_once_error() -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    tokio_stream_once(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "dropped by fault injection",
    )))
}

fn tokio_stream_once(
    item: Result<Bytes, std::io::Error>,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct Once(Option<Result<Bytes, std::io::Error>>);
    impl futures_core::Stream for Once {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take())
        }
    }
    Once(Some(item))
}

struct UploadForm {
    product: Option<String>,
    declared_type: Option<String>,
    file: Option<(Vec<u8>, Option<String>)>,
}

async fn read_upload_form(
    multipart: &mut Multipart,
    product: Option<String>,
) -> Result<UploadForm, Box<Response>> {
    let mut form = UploadForm {
        product,
        declared_type: None,
        file: None,
    };
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name().unwrap_or_default() {
            "messaging_product" => form.product = field.text().await.ok(),
            "type" => form.declared_type = field.text().await.ok(),
            "file" => {
                let part_type = field.content_type().map(str::to_owned);
                match field.bytes().await {
                    Ok(bytes) => form.file = Some((bytes.to_vec(), part_type)),
                    Err(_) => {
                        return Err(Box::new(graph_error(
                            StatusCode::BAD_REQUEST,
                            131_053,
                            "Media upload error",
                            "could not read the file part",
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(form)
}

/// Meta's supported media types and size limits.
fn media_limit(mime: &str) -> Option<usize> {
    const MB: usize = 1024 * 1024;
    Some(match mime {
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" | "video/mp4"
        | "video/3gp" => 16 * MB,
        "text/plain"
        | "application/pdf"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => 100 * MB,
        "image/jpeg" | "image/png" => 5 * MB,
        "image/webp" => 500 * 1024,
        _ => return None,
    })
}

async fn upload_media(
    State(state): State<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    if let Err(response) = authorize(&state, &headers, &query) {
        return *response;
    }
    if phone_number_id != state.config.phone_number_id {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Unknown phone number id",
        );
    }
    let form = match read_upload_form(&mut multipart, query.get("messaging_product").cloned()).await
    {
        Ok(form) => form,
        Err(response) => return *response,
    };
    store_upload(&state, form)
}

fn store_upload(state: &SimState, form: UploadForm) -> Response {
    let UploadForm {
        product,
        declared_type,
        file,
    } = form;
    if product.as_deref() != Some("whatsapp") {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "messaging_product must be whatsapp",
        );
    }
    let Some((bytes, part_type)) = file else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            131_008,
            "Required parameter is missing",
            "file is required",
        );
    };
    let mime = declared_type.or(part_type).unwrap_or_default();
    match media_limit(&mime) {
        None => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131_053,
                "Media upload error",
                "Unsupported media type",
            );
        }
        Some(limit) if bytes.len() > limit => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                131_053,
                "Media upload error",
                "File too large for its type",
            );
        }
        Some(_) => {}
    }
    let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    let id = format!(
        "{}",
        3_000_000_000_000_000u64 + state.lock().rng.random_range(0..1_000_000_000u64)
    );
    state.lock().media.insert(
        id.clone(),
        Media {
            bytes,
            mime,
            sha256,
            expired: false,
        },
    );
    Json(json!({"id": id})).into_response()
}

fn media_gone(id: &str) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        "Invalid parameter",
        &format!("Unsupported get request. Object with ID '{id}' does not exist"),
    )
}

async fn media_metadata(
    State(state): State<Shared>,
    Path((version, media_id)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&state, &headers, &query) {
        return *response;
    }
    if !valid_version(&version) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "Invalid parameter",
            "Unknown version",
        );
    }
    let inner = state.lock();
    match inner.media.get(&media_id) {
        Some(media) if !media.expired => Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/download/{media_id}", state.url),
            "mime_type": media.mime,
            "sha256": media.sha256,
            "file_size": media.bytes.len(),
            "id": media_id,
        }))
        .into_response(),
        _ => media_gone(&media_id),
    }
}

async fn delete_media(
    State(state): State<Shared>,
    Path((_version, media_id)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&state, &headers, &query) {
        return *response;
    }
    match state.lock().media.remove(&media_id) {
        Some(_) => Json(json!({"success": true})).into_response(),
        None => media_gone(&media_id),
    }
}

async fn download_media(
    State(state): State<Shared>,
    Path(media_id): Path<String>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&state, &headers, &query) {
        return *response;
    }
    inject_latency(&state).await;
    let inner = state.lock();
    match inner.media.get(&media_id) {
        Some(media) if !media.expired => (
            [(header::CONTENT_TYPE, media.mime.clone())],
            media.bytes.clone(),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn sim_inbound(State(state): State<Shared>, Json(spec): Json<InboundSpec>) -> Response {
    match crate::inbound::emit(&state, &spec) {
        Ok(wamid) => Json(json!({"wamid": wamid})).into_response(),
        Err(err) => (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    }
}

async fn sim_sent(State(state): State<Shared>) -> Response {
    Json(state.sent()).into_response()
}

async fn sim_faults(State(state): State<Shared>, Json(faults): Json<Faults>) -> Response {
    state.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_like_meta_uses_are_accepted() {
        for ok in ["v13.0", "v23.0", "v26.1"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["23.0", "v23", "vX.0", "v1.2.3", ""] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn real_client_requests_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/whatsapp/graph/requests");
        let mut checked = 0;
        for client in ["pywa", "whatsapp-api-js", "heyoo", "chatwoot"] {
            for entry in std::fs::read_dir(dir.join(client)).unwrap() {
                let path = entry.unwrap().path();
                let fixture: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let Some(body) = fixture
                    .get("json")
                    .or_else(|| fixture.get("body"))
                    .filter(|b| b.is_object())
                else {
                    continue;
                };
                let is_send = fixture
                    .get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.ends_with("/messages"))
                    || fixture
                        .get("url")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.contains("/messages"));
                if !is_send || body.get("status").is_some() {
                    continue;
                }
                assert!(
                    parse_send(body).is_ok(),
                    "{}: {:?}",
                    path.display(),
                    parse_send(body).err()
                );
                checked += 1;
            }
        }
        assert!(checked >= 20, "only {checked} send fixtures found");
    }
}
