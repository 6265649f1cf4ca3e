//! The simulator's own contract, checked over HTTP: auth, limits, the 24-hour window, media, and
//! the signature and escaping of the webhooks it emits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use cloud_api_sim::{InboundSpec, SimConfig, SimHandle, spawn};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TOKEN: &str = "tok";
const SECRET: &str = "sec";

/// A webhook receiver on port 0 that forwards (signature, body) to a channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let signature = headers
                    .get("x-hub-signature-256")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((signature, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

async fn sim(
    tweak: impl FnOnce(&mut SimConfig),
) -> (SimHandle, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let (url, rx) = receiver().await;
    let mut config = SimConfig {
        app_secret: SECRET.into(),
        access_token: TOKEN.into(),
        webhook_url: Some(url),
        status_step_ms: 0,
        ..SimConfig::default()
    };
    tweak(&mut config);
    (
        spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap(),
        rx,
    )
}

async fn send(sim: &SimHandle, token: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}/v23.0/100000000000001/messages", sim.url);
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn text_to(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}})
}

async fn next_webhook(rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>) -> (String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a webhook arrives")
        .expect("channel open")
}

#[tokio::test]
async fn a_bad_token_gets_error_190() {
    let (sim, _rx) = sim(|_| {}).await;
    let (status, body) = send(&sim, "wrong", &text_to("1")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (401, Some(190)));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("(#190)")
    );
}

#[tokio::test]
async fn throughput_and_pair_rate_are_enforced() {
    let (sim, _rx) = sim(|c| {
        c.throughput_per_sec = 3;
        c.pair_burst = 1;
        c.enforce_window = false;
    })
    .await;
    assert_eq!(send(&sim, TOKEN, &text_to("111")).await.0, 200);
    let (status, body) = send(&sim, TOKEN, &text_to("111")).await;
    assert_eq!(
        (status, body["error"]["code"].as_i64()),
        (400, Some(131_056)),
        "pair rate"
    );
    assert_eq!(
        send(&sim, TOKEN, &text_to("222")).await.0,
        200,
        "another recipient is fine"
    );
    let (status, body) = send(&sim, TOKEN, &text_to("333")).await;
    assert_eq!(
        (status, body["error"]["code"].as_i64()),
        (429, Some(130_429)),
        "throughput"
    );
}

#[tokio::test]
async fn outside_the_window_a_text_fails_with_131047_in_a_signed_escaped_webhook() {
    let (sim, mut rx) = sim(|_| {}).await;
    let (status, body) = send(&sim, TOKEN, &text_to("4915100000001")).await;
    assert_eq!(status, 200, "accepted first, as Meta does");
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let (signature, raw) = next_webhook(&mut rx).await;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    assert_eq!(
        signature,
        format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, &raw).as_ref())
        )
    );
    let value: Value = serde_json::from_slice(&raw).unwrap();
    let status = &value["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(
        (status["id"].as_str(), status["status"].as_str()),
        (Some(wamid.as_str()), Some("failed"))
    );
    assert_eq!(status["errors"][0]["code"], 131_047);
    // After the customer writes, texts are delivered; the inbound webhook is ASCII-escaped.
    let spec = InboundSpec {
        from: "4915100000001".into(),
        name: "Jürgen 😀".into(),
        kind: "text".into(),
        text: "Grüße".into(),
        context_wamid: None,
        expired_media: false,
        file: None,
    };
    sim.customer_writes(&spec).unwrap();
    let (_, raw) = next_webhook(&mut rx).await;
    assert!(raw.is_ascii(), "non-ASCII is sent as \\uXXXX");
    assert!(
        String::from_utf8(raw.clone())
            .unwrap()
            .contains("J\\u00fcrgen \\ud83d\\ude00")
    );
    let value: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        value["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"],
        "Grüße"
    );
    let (status, _) = send(&sim, TOKEN, &text_to("4915100000001")).await;
    assert_eq!(status, 200);
    let (_, raw) = next_webhook(&mut rx).await;
    let value: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        value["entry"][0]["changes"][0]["value"]["statuses"][0]["status"],
        "sent"
    );
}

#[tokio::test]
async fn every_inbound_kind_is_emitted() {
    let (sim, mut rx) = sim(|_| {}).await;
    let kinds = [
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "order",
        "system",
        "unsupported",
    ];
    for kind in kinds {
        let spec = InboundSpec {
            from: "15550001111".into(),
            name: "K".into(),
            kind: kind.into(),
            text: "t".into(),
            context_wamid: None,
            expired_media: false,
            file: None,
        };
        sim.customer_writes(&spec).unwrap();
        let (_, raw) = next_webhook(&mut rx).await;
        let value: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            value["entry"][0]["changes"][0]["value"]["messages"][0]["type"],
            kind
        );
    }
    let reaction = InboundSpec {
        from: "15550001111".into(),
        name: "K".into(),
        kind: "reaction".into(),
        text: String::new(),
        context_wamid: Some("wamid.x".into()),
        expired_media: false,
        file: None,
    };
    sim.customer_writes(&reaction).unwrap();
    let (_, raw) = next_webhook(&mut rx).await;
    let value: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        value["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"],
        "wamid.x"
    );
}

#[tokio::test]
async fn media_upload_metadata_download_and_limits() {
    let (sim, _rx) = sim(|_| {}).await;
    let client = reqwest::Client::new();
    let upload = |bytes: Vec<u8>, mime: &str| {
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name("f")
                    .mime_str(mime)
                    .unwrap(),
            );
        client
            .post(format!("{}/v23.0/100000000000001/media", sim.url))
            .bearer_auth(TOKEN)
            .multipart(form)
            .send()
    };
    let too_big = upload(vec![0; 5 * 1024 * 1024 + 1], "image/png")
        .await
        .unwrap();
    assert_eq!(too_big.status().as_u16(), 400);
    assert_eq!(
        too_big.json::<Value>().await.unwrap()["error"]["code"],
        131_053
    );
    let exe = upload(vec![0; 10], "application/x-msdownload")
        .await
        .unwrap();
    assert_eq!(exe.status().as_u16(), 400);
    let ok: Value = upload(b"\x89PNG....".to_vec(), "image/png")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = ok["id"].as_str().unwrap();
    let meta: Value = client
        .get(format!("{}/v23.0/{id}", sim.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (meta["mime_type"].as_str(), meta["file_size"].as_u64()),
        (Some("image/png"), Some(8))
    );
    let url = meta["url"].as_str().unwrap();
    assert_eq!(
        client.get(url).send().await.unwrap().status().as_u16(),
        401,
        "bytes need the token"
    );
    assert_eq!(
        client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"\x89PNG...."
    );
    let deleted = client
        .delete(format!("{}/v23.0/{id}", sim.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    assert_eq!(
        client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}
