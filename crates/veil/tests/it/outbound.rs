//! Outbound: the durable outbox end to end, retries, failures, the 24-hour window, pacing, and the
//! "accepted by Meta but the answer was lost" case.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use cloud_api_sim::Faults;
use veil::clock::Clock as _;

async fn conversation_with(app: &TestApp, number: &str, name: &str) -> String {
    app.customer_writes(number, name, "text", "Hallo!").await;
    app.conversation_named(name).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn outbound(messages: &[serde_json::Value]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .filter(|m| m["direction"] == "out")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_reply_is_sent_once_and_comes_back_read() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000010", "Carla").await;
    let (status, body) = app.send_text(&id, "Guten Tag, Carla!").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let queued = outbound(&app.messages(&id).await);
    assert_eq!(
        (queued.len(), queued[0]["status"].as_str()),
        (1, Some("queued")),
        "recorded before any send"
    );
    assert!(app.sim.sent().is_empty());
    let report = app.run_outbox().await;
    assert_eq!(report.sent, 1);
    let sent = app.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "4915100000010");
    assert_eq!(sent[0].body["text"]["body"], "Guten Tag, Carla!");
    let message = &outbound(&app.messages(&id).await)[0];
    assert_eq!(message["status"], "read");
    assert_eq!(message["wamid"].as_str(), Some(sent[0].wamid.as_str()));
    assert_eq!(app.run_outbox().await.sent, 0, "nothing is sent twice");
    assert_eq!(app.sim.sent().len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn throughput_errors_are_retried_with_backoff_and_sent_once() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000011", "Dario").await;
    app.sim.set_faults(Faults {
        burst_429: 2,
        ..Faults::default()
    });
    app.send_text(&id, "one").await;
    assert_eq!(app.run_outbox().await.retried, 1);
    assert_eq!(
        app.run_outbox().await,
        veil::outbox::SendReport::default(),
        "not due before the backoff"
    );
    app.clock.advance_ms(1_000);
    assert_eq!(app.run_outbox().await.retried, 1);
    app.clock.advance_ms(2_000);
    assert_eq!(app.run_outbox().await.sent, 1);
    assert_eq!(app.sim.sent().len(), 1);
    assert_eq!(outbound(&app.messages(&id).await)[0]["status"], "read");
    app.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_and_permanent_errors_fail_with_the_code() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000012", "Elif").await;
    app.sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    app.send_text(&id, "first").await;
    assert_eq!(app.run_outbox().await.retried, 1);
    app.sim.set_faults(Faults {
        fail_next_with: Some((1, 131_026)),
        ..Faults::default()
    });
    app.clock.advance_ms(1_000);
    assert_eq!(app.run_outbox().await.failed, 1);
    let message = &outbound(&app.messages(&id).await)[0];
    assert_eq!(message["status"], "failed");
    assert_eq!(message["error"]["code"], 131_026);
    assert!(app.sim.sent().is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let app = TestApp::spawn_with(|config, _| config.outbound.max_attempts = 3).await;
    let id = conversation_with(&app, "4915100000013", "Femi").await;
    app.sim.set_faults(Faults {
        burst_429: 100,
        ..Faults::default()
    });
    app.send_text(&id, "x").await;
    for _ in 0..3 {
        app.run_outbox().await;
        app.clock.advance_ms(60_000);
    }
    let message = &outbound(&app.messages(&id).await)[0];
    assert_eq!(message["status"], "failed");
    assert_eq!(message["error"]["code"], 130_429);
    app.shutdown().await;
}

#[tokio::test]
async fn outside_the_window_only_templates_go_out() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000014", "Gita").await;
    let conversation = app.conversation_named("Gita").await;
    assert_eq!(conversation["window"]["open"], true);
    app.clock.advance_ms(24 * 3600 * 1000 + 1);
    assert_eq!(
        app.conversation_named("Gita").await["window"]["open"],
        false
    );
    let (status, body) = app.send_text(&id, "too late").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "window_closed");
    let template =
        json!({"template": {"name": "order_update", "language": "de", "params": ["4821"]}});
    let (status, _) = app
        .post_json(&format!("/api/v1/conversations/{id}/messages"), &template)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.run_outbox().await.sent, 1);
    let sent = app.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["template"]["name"], "order_update");
    assert_eq!(
        outbound(&app.messages(&id).await).len(),
        1,
        "the refused text was never recorded"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pair_pacing_holds_back_a_burst_to_one_customer() {
    let app = TestApp::spawn_with(|config, _| {
        config.outbound.pair_burst = 2;
        config.outbound.pair_refill_ms = 6_000;
    })
    .await;
    let id = conversation_with(&app, "4915100000015", "Hugo").await;
    for n in 0..4 {
        app.send_text(&id, &format!("part {n}")).await;
    }
    let report = app.run_outbox().await;
    assert_eq!((report.sent, report.paced), (2, 2));
    app.clock.advance_ms(6_000);
    assert_eq!(app.run_outbox().await.sent, 1);
    app.clock.advance_ms(6_000);
    assert_eq!(app.run_outbox().await.sent, 1);
    assert_eq!(app.sim.sent().len(), 4);
    app.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_settled_by_the_status_webhook_not_by_sending_again() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000016", "Ines").await;
    app.sim.set_faults(Faults {
        drop_after_accept_rate: 1.0,
        ..Faults::default()
    });
    app.send_text(&id, "are you there?").await;
    let report = app.run_outbox().await;
    assert_eq!(report.ambiguous, 1);
    app.sim.set_faults(Faults::default());
    let sent = app.sim.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].response_dropped);
    // The status webhooks carried our id back: the wamid is known and nothing is resent.
    let message = &outbound(&app.messages(&id).await)[0];
    assert_eq!(message["wamid"].as_str(), Some(sent[0].wamid.as_str()));
    assert_eq!(message["status"], "read");
    app.clock.advance_ms(3_600_000);
    assert_eq!(app.run_outbox().await.sent, 0);
    assert_eq!(app.sim.sent().len(), 1, "sent exactly once");
    app.shutdown().await;
}

#[tokio::test]
async fn a_send_interrupted_by_a_crash_is_resent_once_after_the_reconcile_window() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000017", "Jonas").await;
    app.send_text(&id, "after the crash").await;
    // A worker claimed the row and died before calling Meta: the row stays `sending`.
    let store = &app.app().state.store;
    let now = app.clock.now_ms();
    assert_eq!(
        store
            .claim_outbox(now, now + 1_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    app.clock.advance_ms(60_000);
    let report = app.run_outbox().await;
    assert_eq!(
        report.sent, 0,
        "an expired lease is ambiguous, not resent at once"
    );
    app.clock
        .advance_ms(i64::try_from(app.config.outbound.reconcile_ms).unwrap() + 1);
    assert_eq!(app.run_outbox().await.sent, 1);
    app.clock.advance_ms(3_600_000);
    app.run_outbox().await;
    assert_eq!(app.sim.sent().len(), 1);
    assert_eq!(outbound(&app.messages(&id).await)[0]["status"], "read");
    app.shutdown().await;
}

#[tokio::test]
async fn files_are_uploaded_to_meta_then_sent_by_id() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000018", "Kemal").await;
    let png = {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&[7u8; 300]);
        bytes
    };
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("plan.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .text("caption", "Here is the plan");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{id}/messages")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.run_outbox().await.sent, 1);
    let sent = app.sim.sent();
    assert_eq!(sent[0].kind, "image");
    assert_eq!(sent[0].body["image"]["caption"], "Here is the plan");
    assert!(
        sent[0].body["image"]["id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit()),
        "a Meta media id, not our placeholder"
    );
    let message = &outbound(&app.messages(&id).await)[0];
    assert_eq!(message["caption"], "Here is the plan");
    let media = app
        .client
        .get(app.url(message["media"]["url"].as_str().unwrap()))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(media.headers()["content-disposition"], "attachment");
    assert_eq!(media.bytes().await.unwrap().to_vec(), png);
    app.shutdown().await;
}

#[tokio::test]
async fn bad_send_requests_get_clear_errors() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000019", "Lina").await;
    let path = format!("/api/v1/conversations/{id}/messages");
    for body in [
        json!({}),
        json!({"text": ""}),
        json!({"text": "a", "template": {"name": "x", "language": "en"}}),
        json!({"txt": "typo"}),
    ] {
        let (status, response) = app.post_json(&path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {response}");
    }
    let (status, _) = app
        .post_json("/api/v1/conversations/nope/messages", &json!({"text": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(outbound(&app.messages(&id).await).is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn scheduled_messages_wait_for_their_time_warn_about_the_window_and_can_be_cancelled() {
    let app = TestApp::spawn().await;
    let id = conversation_with(&app, "4915100000019", "Selma").await;
    let path = format!("/api/v1/conversations/{id}/messages");
    let now = app.clock.now_ms();
    let hour = 3_600_000;
    let (status, first) = app
        .post_json(
            &path,
            &json!({"text": "in one hour", "send_at": now + hour}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["status"], "scheduled");
    let (_, second) = app
        .post_json(&path, &json!({"text": "never", "send_at": now + 2 * hour}))
        .await;
    // Past, or beyond the window without saying so: refused with the reason.
    let (status, body) = app
        .post_json(&path, &json!({"text": "yesterday", "send_at": now - 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .post_json(&path, &json!({"text": "late", "send_at": now + 25 * hour}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after_window")
    );
    let (status, _) = app
        .post_json(
            &path,
            &json!({"text": "late", "send_at": now + 25 * hour, "after_window": true}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // A template may be scheduled past the window without any warning.
    let template = json!({"template": {"name": "order_update", "language": "de", "params": []},
        "send_at": now + 26 * hour});
    assert_eq!(
        app.post_json(&path, &template).await.0,
        StatusCode::ACCEPTED
    );

    assert_eq!(app.run_outbox().await.sent, 0, "nothing is due yet");
    let waiting: Vec<_> = outbound(&app.messages(&id).await)
        .iter()
        .map(|m| m["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(waiting, ["scheduled"; 4]);

    let cancel = format!("{path}/{}/cancel", second["id"].as_str().unwrap());
    assert_eq!(
        app.post_json(&cancel, &json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post_json(&cancel, &json!({})).await.0,
        StatusCode::CONFLICT
    );

    app.clock.advance_ms(hour);
    assert_eq!(app.run_outbox().await.sent, 1, "the first is due");
    assert_eq!(app.sim.sent()[0].body["text"]["body"], "in one hour");
    let sent_one = format!("{path}/{}/cancel", first["id"].as_str().unwrap());
    assert_eq!(
        app.post_json(&sent_one, &json!({})).await.0,
        StatusCode::CONFLICT,
        "too late to cancel what went out"
    );
    app.clock.advance_ms(26 * hour);
    assert_eq!(app.run_outbox().await.sent, 2);
    let bodies: Vec<String> = app.sim.sent().iter().map(|s| s.body.to_string()).collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        !bodies.iter().any(|b| b.contains("never")),
        "the cancelled one never went out"
    );
    let statuses: Vec<_> = outbound(&app.messages(&id).await)
        .iter()
        .map(|m| m["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(statuses.contains(&"cancelled".to_owned()), "{statuses:?}");
    app.shutdown().await;
}
