//! The guard (C7) in the running app: inbound values stored masked with a note for the agent,
//! flagged links behind a second confirmation, outbound card numbers and code requests refused
//! with an explanation and an audit entry, and the admin's policy page.

use reqwest::StatusCode;

use crate::helpers::{TestApp, page, post_form};
use veil::identity::Role;

const CARD: &str = "4111 1111 1111 1111";

#[tokio::test]
async fn inbound_cards_are_stored_masked_and_flagged_messages_carry_a_note() {
    let app = TestApp::spawn().await;
    app.customer_writes(
        "4915100000301",
        "Gina",
        "text",
        &format!("my card {CARD} thanks"),
    )
    .await;
    app.customer_writes(
        "4915100000301",
        "Gina",
        "text",
        "Urgent! Your account will be blocked, verify at https://whatsapp-verify.com/login",
    )
    .await;
    app.customer_writes("4915100000301", "Gina", "text", "Wo bleibt mein Paket?")
        .await;
    let id = app.conversation_named("Gina").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let messages = app.messages(&id).await;
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(
        texts.contains(&"my card •••• •••• •••• 1111 thanks"),
        "{texts:?}"
    );
    assert!(texts.iter().all(|t| !t.contains(CARD)), "{texts:?}");
    let card = messages
        .iter()
        .find(|m| m["text"].as_str().is_some_and(|t| t.contains("1111")))
        .unwrap();
    assert_eq!(card["guard"]["text"][0]["kind"], "card_number");
    assert_eq!(card["guard"]["text"][0]["action"], "mask");
    assert_eq!(card["guard"]["risk"], "high");
    let phishing = messages
        .iter()
        .find(|m| m["text"].as_str().is_some_and(|t| t.contains("verify")))
        .unwrap();
    let kinds: Vec<&str> = phishing["guard"]["text"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"phishing_url"), "{phishing}");
    let plain = messages
        .iter()
        .find(|m| m["text"] == "Wo bleibt mein Paket?")
        .unwrap();
    assert!(plain.get("guard").is_none(), "{plain}");

    // The inbox page: a note on each flagged message, the flagged link behind a second step.
    let agent = app.add_user(Role::Supervisor).await;
    let b = app.sign_in(&agent).await;
    let (status, html) = page(&app, &b, &format!("/inbox/c/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(CARD));
    assert!(html.contains("•••• •••• •••• 1111"));
    assert!(html.contains("data-guard=\"card_number\""), "{html}");
    assert!(html.contains("class=\"guard-link\""));
    assert!(html.contains("details class=\"confirm\""));
    assert_eq!(html.matches("class=\"guard guard-").count(), 2, "{html}");
    app.shutdown().await;
}

#[tokio::test]
async fn agents_cannot_send_card_numbers_or_ask_for_codes_and_each_refusal_is_logged() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000302", "Hugo", "text", "Hallo")
        .await;
    let id = app.conversation_named("Hugo").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = app.add_user(Role::Supervisor).await;
    let b = app.sign_in(&agent).await;
    let reply = |text: &'static str| {
        let (app, b, id) = (&app, &b, id.clone());
        async move { post_form(app, b, &format!("/inbox/c/{id}/reply"), &[("text", text)]).await }
    };
    let refused = reply("Ihre Karte: 4111111111111111").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("payment link") || html.contains("Zahlungslink"),
        "{html}"
    );
    let refused = reply("Schicken Sie mir bitte den Bestätigungscode aus der SMS").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The API is screened the same way.
    let (status, body) = app.send_text(&id, "what is the verification code?").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        app.messages(&id)
            .await
            .iter()
            .all(|m| m["direction"] != "out")
    );
    assert!(app.sim.sent().is_empty());

    let (_, found) = app.get("/api/v1/audit?action=guard.block").await;
    let entries = found["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{found}");
    let reasons: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"card_number"), "{reasons:?}");
    assert!(reasons.contains(&"code_request"), "{reasons:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["outcome"] == "denied" && e["target"] == format!("conversation:{id}")),
        "{found}"
    );

    // An ordinary reply goes out; a phone number of the business is allowed.
    let sent = reply("Gern! Rufen Sie uns an: +49 30 1234567").await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.run_outbox().await.sent, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn admins_set_the_guard_policy_and_agents_cannot() {
    let app = TestApp::spawn().await;
    let admin = app.add_user(Role::Admin).await;
    let b = app.sign_in(&admin).await;
    let (status, html) = page(&app, &b, "/admin/guard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-kind=\"card_number\""));
    assert!(html.contains("name=\"out_card_number\""));

    // Block e-mail addresses inbound: they are then stored fully masked.
    let saved = post_form(&app, &b, "/admin/guard", &[("in_email", "block")]).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&app, &b, "/admin/guard").await;
    assert!(
        html.contains("<tr data-kind=\"email\" class=\"changed\""),
        "{html}"
    );
    app.customer_writes("4915100000303", "Ines", "text", "mail: ines@example.org")
        .await;
    let id = app.conversation_named("Ines").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let texts: Vec<String> = app
        .messages(&id)
        .await
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts, ["mail: ••••@•••••••.•••"]);
    let (_, found) = app.get("/api/v1/audit?action=guard.policy").await;
    assert_eq!(found["entries"][0]["reason"], "email", "{found}");

    // Masking a link is not an action; nonsense is refused.
    let bad = post_form(&app, &b, "/admin/guard", &[("in_phishing_url", "mask")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reset = post_form(&app, &b, "/admin/guard", &[("reset", "1")]).await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert!(app.app().state.guard.policy().overrides.is_empty());

    let agent = app.add_user(Role::Agent).await;
    let a = app.sign_in(&agent).await;
    let (status, _) = page(&app, &a, "/admin/guard").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let denied = post_form(&app, &a, "/admin/guard", &[("in_email", "allow")]).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    app.shutdown().await;
}
