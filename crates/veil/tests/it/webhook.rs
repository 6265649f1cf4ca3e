//! Inbound: handshake, signatures, limits, every fixture, duplicates, statuses.

use std::collections::{BTreeSet, HashSet};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, VERIFY_TOKEN, fixtures_dir};

#[tokio::test]
async fn handshake_answers_the_challenge_only_with_the_right_token() {
    let app = TestApp::spawn().await;
    let get = |query: String| {
        let client = app.client.clone();
        let url = app.url(&format!("/webhooks/whatsapp?{query}"));
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, body) = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1158201444"));
    let (status, _) = get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(format!(
        "hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=%3Cscript%3E"
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "markup is never echoed: {body}"
    );
    app.shutdown().await;
}

fn text_webhook(wamid: &str, from: &str, body: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001234", "phone_number_id": "100000000000001"},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": "1700000000", "type": "text", "text": {"body": body}}]}}]}]}))
    .unwrap()
}

#[tokio::test]
async fn unsigned_forged_oversized_and_malformed_posts_store_nothing() {
    let app = TestApp::spawn_with(|config, _| config.webhook_max_body_bytes = 64 * 1024).await;
    let body = text_webhook("wamid.forged", "4915100000001", "hello");
    assert_eq!(
        app.post_webhook_raw(&body, None).await,
        StatusCode::UNAUTHORIZED
    );
    let wrong = veil_crypto::sign_hub_body(b"not-the-secret", &body);
    assert_eq!(
        app.post_webhook_raw(&body, Some(&wrong)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_webhook_raw(&body, Some("sha256=zz")).await,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let good_for_original =
        veil_crypto::sign_hub_body(crate::helpers::APP_SECRET.as_bytes(), &body);
    assert_eq!(
        app.post_webhook_raw(&tampered, Some(&good_for_original))
            .await,
        StatusCode::UNAUTHORIZED
    );
    let huge = vec![b' '; 65 * 1024];
    assert_eq!(app.post_webhook(&huge).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.post_webhook(b"{not json").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.post_webhook(b"[1,2,3]").await, StatusCode::BAD_REQUEST);
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 0);
    assert!(app.conversations().await.is_empty());
    assert_eq!(app.post_webhook(&body).await, StatusCode::OK);
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn redelivered_webhooks_change_nothing() {
    let app = TestApp::spawn().await;
    let body = text_webhook("wamid.dup-1", "4915100000002", "once");
    for _ in 0..3 {
        assert_eq!(app.post_webhook(&body).await, StatusCode::OK);
    }
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 1);
    let conversation = app.conversation_named("Ana").await;
    assert_eq!(conversation["unread_count"], 1);
    assert_eq!(
        app.messages(conversation["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    app.shutdown().await;
}

/// One webhook carrying several text messages, each `(wamid, from, name)`.
fn batch_webhook(messages: &[(&str, &str, &str)]) -> Vec<u8> {
    let contacts: Vec<Value> = messages
        .iter()
        .map(|(_, from, name)| serde_json::json!({"profile": {"name": name}, "wa_id": from}))
        .collect();
    let texts: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(n, (wamid, from, _))| serde_json::json!({"from": from, "id": wamid,
            "timestamp": (1_700_000_000 + n).to_string(), "type": "text", "text": {"body": format!("part {n}")}}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001234", "phone_number_id": "100000000000001"},
        "contacts": contacts, "messages": texts}}]}]}))
    .unwrap()
}

/// Known contacts only: on PostgreSQL this is the one-statement path, which counts unread
/// messages per conversation from the rows it actually inserted.
#[tokio::test]
async fn a_webhook_of_several_messages_counts_each_new_one_once_per_conversation() {
    let app = TestApp::spawn().await;
    let (ana, ben) = ("4915100000011", "4915100000012");
    for (wamid, from, name) in [("wamid.b-1", ana, "Ana"), ("wamid.b-2", ben, "Ben")] {
        assert_eq!(
            app.post_webhook(&batch_webhook(&[(wamid, from, name)]))
                .await,
            StatusCode::OK
        );
    }
    let batch = batch_webhook(&[
        ("wamid.b-1", ana, "Ana"),
        ("wamid.b-3", ana, "Ana"),
        ("wamid.b-4", ben, "Ben"),
        ("wamid.b-5", ana, "Ana"),
    ]);
    for _ in 0..2 {
        assert_eq!(app.post_webhook(&batch).await, StatusCode::OK);
    }
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 5);
    for (name, unread) in [("Ana", 3), ("Ben", 2)] {
        let conversation = app.conversation_named(name).await;
        assert_eq!(conversation["unread_count"], unread, "{name}");
        let texts: Vec<Value> = app
            .message_texts(conversation["id"].as_str().unwrap())
            .await;
        assert_eq!(texts.len(), unread, "{name}: {texts:?}");
    }
    app.shutdown().await;
}

async fn names(app: &TestApp) -> Vec<Value> {
    app.conversations()
        .await
        .iter()
        .map(|c| c["contact"]["display_name"].clone())
        .collect()
}

/// A customer's new profile name replaces the old one, on the same conversation; a known name is
/// not written again and stays.
#[tokio::test]
async fn a_new_profile_name_replaces_the_old_one() {
    let app = TestApp::spawn().await;
    let from = "4915100000021";
    let first = batch_webhook(&[("wamid.n-1", from, "Old Name")]);
    assert_eq!(app.post_webhook(&first).await, StatusCode::OK);
    let id = app.conversation_named("Old Name").await["id"].clone();
    for (n, wamid) in ["wamid.n-2", "wamid.n-3"].into_iter().enumerate() {
        let renamed = batch_webhook(&[(wamid, from, "New Name")]);
        assert_eq!(app.post_webhook(&renamed).await, StatusCode::OK);
        assert_eq!(names(&app).await, vec![Value::from("New Name")], "{n}");
    }
    assert_eq!(app.conversation_named("New Name").await["id"], id);
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 3);
    app.shutdown().await;
}

/// Every message id and type in a fixture body (messages and echoes), as Veil should store them.
fn fixture_messages(body: &Value, ids: &mut HashSet<String>, kinds: &mut BTreeSet<String>) {
    for entry in body["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            for list in ["messages", "message_echoes"] {
                for message in change["value"][list].as_array().into_iter().flatten() {
                    // Three chatwoot fixtures carry no id: Veil derives one from the content.
                    ids.insert(
                        message["id"]
                            .as_str()
                            .map_or_else(|| message.to_string(), str::to_owned),
                    );
                    kinds.insert(message["type"].as_str().unwrap_or("unknown").to_owned());
                }
            }
        }
    }
}

/// Appends `.file.position` to every message id in a fixture; returns how many ids it changed.
fn make_ids_unique(body: &mut Value, index: usize) -> usize {
    let mut changed = 0;
    for entry in body["entry"].as_array_mut().into_iter().flatten() {
        for change in entry["changes"].as_array_mut().into_iter().flatten() {
            for list in ["messages", "message_echoes"] {
                for message in change["value"][list].as_array_mut().into_iter().flatten() {
                    if let Some(id) = message["id"].as_str().map(str::to_owned) {
                        message["id"] = Value::from(format!("{id}.{index}.{changed}"));
                        changed += 1;
                    }
                }
            }
        }
    }
    changed
}

#[tokio::test]
async fn every_fixture_is_accepted_and_every_message_stored() {
    let app = TestApp::spawn().await;
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir().join("webhooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "index.json")
        .collect();
    files.sort();
    assert_eq!(files.len(), 127, "the shared fixture set has 127 payloads");
    let (mut ids, mut kinds) = (HashSet::new(), BTreeSet::new());
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let status = app.post_webhook(&bytes).await;
        assert_eq!(status, StatusCode::OK, "{}", path.display());
        fixture_messages(
            &serde_json::from_slice(&bytes).unwrap(),
            &mut ids,
            &mut kinds,
        );
    }
    let stored = app.app().state.store.count_messages().await.unwrap();
    assert_eq!(
        usize::try_from(stored).unwrap(),
        ids.len(),
        "one stored message per distinct message id"
    );
    // Non-message fields are kept as events, one per change.
    let store = &app.app().state.store;
    assert_eq!(store.count_events("account_update").await.unwrap(), 17);
    assert_eq!(store.count_events("calls").await.unwrap(), 4);
    assert_eq!(
        store
            .count_events("message_template_status_update")
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.count_events("user_preferences").await.unwrap(), 2);
    // Replaying everything again is absorbed.
    for path in &files {
        assert_eq!(
            app.post_webhook(&std::fs::read(path).unwrap()).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        app.app().state.store.count_messages().await.unwrap(),
        stored
    );
    // The fixtures reuse ids across files ("wamid.xyzxyz"), which Veil rightly treats as one
    // message. Made unique per file, every single message must be stored, whatever its type.
    let mut unique_ids = 0;
    for (index, path) in files.iter().enumerate() {
        let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        unique_ids += make_ids_unique(&mut value, index);
        assert_eq!(
            app.post_webhook(&serde_json::to_vec(&value).unwrap()).await,
            StatusCode::OK,
            "{}",
            path.display()
        );
    }
    let stored = app.app().state.store.count_messages().await.unwrap();
    assert_eq!(usize::try_from(stored).unwrap(), ids.len() + unique_ids);
    // Every type is readable through the API, unknown ones as "unsupported".
    let mut seen = BTreeSet::new();
    let mut listed = 0;
    for conversation in app.conversations().await {
        for message in app.messages(conversation["id"].as_str().unwrap()).await {
            assert_eq!(message["content_available"], true);
            seen.insert(message["type"].as_str().unwrap().to_owned());
            listed += 1;
        }
    }
    assert_eq!(listed, stored, "every stored message is listed");
    let expected: BTreeSet<String> = kinds
        .into_iter()
        .map(|k| {
            if k == "unknown" {
                "unsupported".to_owned()
            } else {
                k
            }
        })
        .collect();
    assert_eq!(seen, expected);
    app.shutdown().await;
}

#[tokio::test]
async fn username_only_customers_and_batches_are_stored_in_full() {
    let app = TestApp::spawn().await;
    let dir = fixtures_dir().join("webhooks");
    let username_only =
        std::fs::read(dir.join("msg.text_username_only_bsuid--whatsapp-api-js.json")).unwrap();
    assert_eq!(app.post_webhook(&username_only).await, StatusCode::OK);
    let conversations = app.conversations().await;
    let bsuid_only = conversations
        .iter()
        .find(|c| c["contact"]["display_name"] == "test user name")
        .expect("username-only contact");
    assert_eq!(
        bsuid_only["contact"]["masked_number"],
        Value::Null,
        "no number was given"
    );
    let texts: Vec<Value> = app.message_texts(bsuid_only["id"].as_str().unwrap()).await;
    assert_eq!(texts, vec![Value::from("this is a text message")]);
    for name in [
        "batch.derived_two_entries_two_messages--derived-pywa.json",
        "batch.two_changes_one_entry--netflie.json",
    ] {
        assert_eq!(
            app.post_webhook(&std::fs::read(dir.join(name)).unwrap())
                .await,
            StatusCode::OK,
            "{name}"
        );
    }
    // These fixtures repeat their ids ("wamid.xyzxyz", "wamid.ID"): one message per distinct id.
    assert_eq!(
        app.app().state.store.count_messages().await.unwrap(),
        1 + 1 + 1
    );
    // A batch of 2 entries x 2 changes x 2 messages + 2 statuses, all distinct: all of it is kept.
    let entry = |e: usize| {
        serde_json::json!({"id": "1", "changes": (0..2).map(|c| serde_json::json!({"field": "messages", "value": {
            "metadata": {"phone_number_id": "100000000000001"},
            "messages": (0..2).map(|m| serde_json::json!({"from": format!("49151000005{e}{c}"), "id": format!("wamid.batch.{e}.{c}.{m}"), "type": "text", "text": {"body": "b"}})).collect::<Vec<_>>(),
            "statuses": [{"id": format!("wamid.st.{e}.{c}"), "status": "sent", "timestamp": "1"}]}})).collect::<Vec<_>>()})
    };
    let batch =
        serde_json::json!({"object": "whatsapp_business_account", "entry": [entry(0), entry(1)]});
    assert_eq!(
        app.post_webhook(&serde_json::to_vec(&batch).unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 3 + 8);
    assert_eq!(
        app.app()
            .state
            .store
            .count_status_events("wamid.st.1.1")
            .await
            .unwrap(),
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn statuses_only_move_forward_and_every_raw_event_is_kept() {
    let app = TestApp::spawn_with(|_, sim| sim.emit_read = false).await;
    app.customer_writes("4915100000003", "Bea", "text", "hi")
        .await;
    let conversation = app.conversation_named("Bea").await;
    let id = conversation["id"].as_str().unwrap();
    assert_eq!(app.send_text(id, "hello Bea").await.0, StatusCode::ACCEPTED);
    app.run_outbox().await;
    let sent = app
        .messages(id)
        .await
        .into_iter()
        .find(|m| m["direction"] == "out")
        .unwrap();
    assert_eq!(sent["status"], "delivered");
    let wamid = sent["wamid"].as_str().unwrap();
    let status = |name: &str| {
        serde_json::to_vec(&serde_json::json!({"entry": [{"changes": [{"field": "messages", "value": {"statuses": [
            {"id": wamid, "status": name, "timestamp": "1700000000", "recipient_id": "4915100000003"}]}}]}]}))
        .unwrap()
    };
    for name in ["read", "sent", "delivered", "read"] {
        assert_eq!(app.post_webhook(&status(name)).await, StatusCode::OK);
    }
    let after = app
        .messages(id)
        .await
        .into_iter()
        .find(|m| m["direction"] == "out")
        .unwrap();
    assert_eq!(
        after["status"], "read",
        "late sent/delivered do not move it back"
    );
    let events = app
        .app()
        .state
        .store
        .count_status_events(wamid)
        .await
        .unwrap();
    assert_eq!(
        events,
        2 + 3,
        "sent and delivered from the simulator, four posted by hand of which one a replay"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_failed_status_carries_its_code_and_title() {
    let app = TestApp::spawn().await;
    let body =
        std::fs::read(fixtures_dir().join("webhooks/status.failed_errors_131053--netflie.json"))
            .unwrap();
    assert_eq!(app.post_webhook(&body).await, StatusCode::OK);
    let value: Value = serde_json::from_slice(&body).unwrap();
    let wamid = value["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        .as_str()
        .unwrap();
    assert_eq!(
        app.app()
            .state
            .store
            .count_status_events(wamid)
            .await
            .unwrap(),
        1
    );
    app.shutdown().await;
}

#[tokio::test]
async fn timestamps_that_cannot_be_real_neither_order_messages_nor_close_the_window() {
    let app = TestApp::spawn().await;
    let now = veil::clock::Clock::now_ms(app.clock.as_ref());
    for (n, ts) in ["-86400", "99999999999", "0"].iter().enumerate() {
        let body = serde_json::json!({"entry":[{"changes":[{"field":"messages","value":{
            "metadata":{"phone_number_id":"1"},
            "contacts":[{"profile":{"name":"Tess"},"wa_id":"4915100000601"}],
            "messages":[{"from":"4915100000601","id":format!("wamid.ts.{n}"),"timestamp":ts,"type":"text","text":{"body":format!("m{n}")}}]}}]}]});
        assert_eq!(
            app.post_webhook(&serde_json::to_vec(&body).unwrap()).await,
            StatusCode::OK
        );
    }
    let conversation = app.conversation_named("Tess").await;
    assert_eq!(conversation["window"]["open"], true, "{conversation}");
    let messages = app.messages(conversation["id"].as_str().unwrap()).await;
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["m0", "m1", "m2"], "arrival order");
    for m in &messages {
        assert_eq!(m["timestamp"], now, "{m}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_replayed_status_webhook_adds_no_rows() {
    let app = TestApp::spawn().await;
    let body =
        std::fs::read(fixtures_dir().join("webhooks/status.failed_errors_131053--netflie.json"))
            .unwrap();
    let value: Value = serde_json::from_slice(&body).unwrap();
    let wamid = value["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        assert_eq!(app.post_webhook(&body).await, StatusCode::OK);
    }
    let store = &app.app().state.store;
    assert_eq!(store.count_status_events(&wamid).await.unwrap(), 1);
    app.shutdown().await;
}

/// The webhook POST is served before the router (`webhook::Direct`); its answers must still carry
/// every security header the router's answers carry, whatever their status.
#[tokio::test]
async fn webhook_answers_carry_the_routers_security_headers() {
    let app = TestApp::spawn_with(|config, _| config.webhook_max_body_bytes = 1024).await;
    let names = [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "cache-control",
        "cross-origin-opener-policy",
        "cross-origin-resource-policy",
    ];
    let headers_of = |response: &reqwest::Response| {
        names
            .iter()
            .map(|n| {
                response
                    .headers()
                    .get(*n)
                    .map(|v| v.to_str().unwrap().to_owned())
            })
            .collect::<Vec<_>>()
    };
    let routed = app
        .client
        .get(app.url("/webhooks/whatsapp?hub.mode=subscribe"))
        .send()
        .await
        .unwrap();
    assert_eq!(routed.status(), StatusCode::FORBIDDEN);
    let expected = headers_of(&routed);
    assert!(expected.iter().all(Option::is_some), "{expected:?}");
    let body = text_webhook("wamid.headers", "4915100000002", "hello");
    let signature = veil_crypto::sign_hub_body(crate::helpers::APP_SECRET.as_bytes(), &body);
    let cases: [(Vec<u8>, Option<String>, StatusCode); 4] = [
        (body.clone(), Some(signature), StatusCode::OK),
        (body.clone(), None, StatusCode::UNAUTHORIZED),
        (vec![b' '; 2048], None, StatusCode::PAYLOAD_TOO_LARGE),
        (b"{not json".to_vec(), None, StatusCode::BAD_REQUEST),
    ];
    for (body, signature, status) in cases {
        let signature = signature.unwrap_or_else(|| veil_crypto::sign_hub_body(b"wrong", &body));
        let signature = if status == StatusCode::BAD_REQUEST {
            veil_crypto::sign_hub_body(crate::helpers::APP_SECRET.as_bytes(), &body)
        } else {
            signature
        };
        let response = app
            .client
            .post(app.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(headers_of(&response), expected, "{status}");
    }
    assert_eq!(app.app().state.store.count_messages().await.unwrap(), 1);
    app.shutdown().await;
}
