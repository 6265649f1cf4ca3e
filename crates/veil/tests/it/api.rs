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
