//! The JSON API: tokens, listing order, unread counts, headers.

use reqwest::StatusCode;

use crate::helpers::{TestApp, postgres_url};

#[tokio::test]
async fn the_backend_is_the_one_ci_asked_for() {
    let app = TestApp::spawn().await;
    let expected = if postgres_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(app.app().state.store.backend(), expected);
    app.shutdown().await;
}

#[tokio::test]
async fn the_api_needs_a_valid_unrevoked_token() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/v1/conversations");
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth("veil_wrong")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.client
            .get(&url)
            .header("authorization", format!("Basic {}", app.token))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let store = app.app().state.store.clone();
    let (row, secret) = app
        .app()
        .state
        .identity
        .create_token(
            None,
            "temp",
            veil::identity::Permissions::of(&[veil::identity::Permission::ConversationReadAll]),
            None,
        )
        .await
        .unwrap();
    let id = row.id;
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(secret.expose_text())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(store.revoke_api_token(&id, 1).await.unwrap());
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(secret.expose_text())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    app.shutdown().await;
}

#[tokio::test]
async fn conversations_are_newest_first_with_unread_counts_and_no_caching() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000400", "First", "text", "one")
        .await;
    app.clock.advance_ms(1_000);
    app.customer_writes("4915100000401", "Second", "text", "two")
        .await;
    app.clock.advance_ms(1_000);
    app.customer_writes("4915100000400", "First", "text", "three")
        .await;
    let conversations = app.conversations().await;
    let names: Vec<&str> = conversations
        .iter()
        .map(|c| c["contact"]["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["First", "Second"]);
    assert_eq!(conversations[0]["unread_count"], 2);
    assert_eq!(
        conversations[0]["contact"]["masked_number"],
        "+49•••••••••00"
    );
    let id = conversations[0]["id"].as_str().unwrap();
    let response = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{id}/read")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.conversation_named("First").await["unread_count"], 0);
    let response = app
        .client
        .get(app.url("/api/v1/conversations"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let before = conversations[0]["last_activity_at"].as_i64().unwrap();
    let (_, page) = app
        .get(&format!("/api/v1/conversations?before={before}"))
        .await;
    assert_eq!(
        page["conversations"].as_array().unwrap().len(),
        1,
        "paging by activity time"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn healthz_answers() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn paging_conversations_with_equal_times_skips_and_repeats_none() {
    let app = TestApp::spawn().await;
    // One webhook, seven new customers: seven conversations with the same activity time.
    let messages: Vec<serde_json::Value> = (0..7)
        .map(|n| {
            serde_json::json!({"from": format!("49151000007{n:02}"), "id": format!("wamid.tie.{n}"),
            "timestamp": "1700000000", "type": "text", "text": {"body": "hi"}})
        })
        .collect();
    let contacts: Vec<serde_json::Value> = (0..7)
        .map(|n| serde_json::json!({"profile": {"name": format!("Tie {n}")}, "wa_id": format!("49151000007{n:02}")}))
        .collect();
    let body = serde_json::json!({"entry":[{"changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"1"},"contacts":contacts,"messages":messages}}]}]});
    assert_eq!(
        app.post_webhook(&serde_json::to_vec(&body).unwrap()).await,
        StatusCode::OK
    );
    for limit in [1, 2, 3] {
        let mut seen = Vec::new();
        let mut path = format!("/api/v1/conversations?limit={limit}");
        for _ in 0..20 {
            let (_, page) = app.get(&path).await;
            for c in page["conversations"].as_array().unwrap() {
                seen.push(c["id"].as_str().unwrap().to_owned());
            }
            let next = &page["next"];
            if next.is_null() {
                break;
            }
            path = format!(
                "/api/v1/conversations?limit={limit}&before={}&before_id={}",
                next["before"],
                next["before_id"].as_str().unwrap()
            );
        }
        let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            (seen.len(), distinct.len()),
            (7, 7),
            "limit {limit}: {seen:?}"
        );
    }
    // Messages of one millisecond page the same way.
    let more: Vec<serde_json::Value> = (0..5)
        .map(|n| {
            serde_json::json!({"from": "4915100000700", "id": format!("wamid.tie.m{n}"),
            "timestamp": "1700000000", "type": "text", "text": {"body": format!("m{n}")}})
        })
        .collect();
    let body = serde_json::json!({"entry":[{"changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"1"},"messages":more}}]}]});
    app.post_webhook(&serde_json::to_vec(&body).unwrap()).await;
    let owner = app
        .conversations()
        .await
        .into_iter()
        .find(|c| c["contact"]["display_name"] == "Tie 0")
        .unwrap();
    let cid = owner["id"].as_str().unwrap();
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/conversations/{cid}/messages?limit=2");
    for _ in 0..20 {
        let (_, page) = app.get(&path).await;
        for m in page["messages"].as_array().unwrap() {
            seen.push(m["id"].as_str().unwrap().to_owned());
        }
        if page["next"].is_null() {
            break;
        }
        path = format!(
            "/api/v1/conversations/{cid}/messages?limit=2&before={}&before_id={}",
            page["next"]["before"],
            page["next"]["before_id"].as_str().unwrap()
        );
    }
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (6, 6), "{seen:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn paging_alerts_with_equal_times_skips_and_repeats_none() {
    let app = TestApp::spawn().await;
    for n in 0..5 {
        app.app()
            .state
            .store
            .insert_alert(&veil::store::AlertRow {
                id: format!("rule-{n}"),
                at: 1_000,
                rule: "rule".into(),
                actor: "user:x".into(),
                detail: String::new(),
                seq: n,
                email_state: "none".into(),
                webhook_state: "none".into(),
                attempts: 0,
                next_attempt_at: 0,
                acknowledged_by: None,
                acknowledged_at: None,
            })
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/alerts?limit=2".to_owned();
    for _ in 0..10 {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        for a in page["alerts"].as_array().unwrap() {
            seen.push(a["id"].as_str().unwrap().to_owned());
        }
        if page["next"].is_null() {
            break;
        }
        path = format!(
            "/api/v1/alerts?limit=2&before={}&before_id={}",
            page["next"]["before"],
            page["next"]["before_id"].as_str().unwrap()
        );
    }
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (5, 5), "{seen:?}");
    app.shutdown().await;
}
