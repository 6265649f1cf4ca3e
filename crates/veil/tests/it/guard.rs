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

/// A simulated customer sends `bytes` as a document; returns the conversation id.
async fn customer_sends_file(
    app: &TestApp,
    from: &str,
    name: &str,
    filename: &str,
    bytes: &[u8],
) -> String {
    let spec = cloud_api_sim::InboundSpec {
        from: from.into(),
        name: name.into(),
        kind: "document".into(),
        text: String::new(),
        context_wamid: None,
        expired_media: false,
        file: Some(cloud_api_sim::InboundFile {
            mime: "application/pdf".into(),
            filename: filename.into(),
            bytes: bytes.to_vec(),
        }),
    };
    app.sim.customer_writes(&spec).expect("sim accepts");
    app.settle().await;
    app.conversation_named(name).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn media_states(messages: &[serde_json::Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| {
            Some((
                m["id"].as_str()?.to_owned(),
                m["media"]["state"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

#[tokio::test]
async fn dangerous_files_are_quarantined_by_their_bytes_and_only_admins_release_them() {
    let app = TestApp::spawn().await;
    // A Windows program that calls itself a PDF, the EICAR test file, and a real PDF.
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00This program cannot be run in DOS mode".to_vec();
    let id = customer_sends_file(&app, "4915100000304", "Jana", "invoice.pdf", &exe).await;
    customer_sends_file(&app, "4915100000304", "Jana", "scan.pdf", EICAR).await;
    customer_sends_file(
        &app,
        "4915100000304",
        "Jana",
        "order.pdf",
        b"%PDF-1.4\n% an order\n",
    )
    .await;
    let report = app.app().media.run_once().await.unwrap();
    assert_eq!((report.stored, report.quarantined), (3, 2), "{report:?}");
    let media = media_states(&app.messages(&id).await);
    let quarantined: Vec<&String> = media
        .iter()
        .filter(|(_, s)| s == "quarantined")
        .map(|(m, _)| m)
        .collect();
    assert_eq!(quarantined.len(), 2, "{media:?}");
    let exe_message = &media[0].0;

    // A supervisor sees the notice, gets no file, and cannot release it.
    let supervisor = app.add_user(Role::Supervisor).await;
    let s = app.sign_in(&supervisor).await;
    let (_, html) = page(&app, &s, &format!("/inbox/c/{id}")).await;
    assert_eq!(
        html.matches("class=\"guard guard-high quarantined\"")
            .count(),
        2,
        "{html}"
    );
    assert!(!html.contains("release=1"));
    let (status, _) = page(&app, &s, &format!("/inbox/media/{exe_message}?download=1")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = page(
        &app,
        &s,
        &format!("/inbox/media/{exe_message}?download=1&release=1"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The API never hands it out.
    let (status, _) = app
        .get(&format!("/api/v1/messages/{exe_message}/media"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // An admin sees a release link behind a warning; the download is the original, as an
    // attachment, and recorded.
    let admin = app.add_user(Role::Admin).await;
    let a = app.sign_in(&admin).await;
    let (_, html) = page(&app, &a, &format!("/inbox/c/{id}")).await;
    assert_eq!(html.matches("details class=\"release\"").count(), 2);
    let released = a
        .client
        .get(app.url(&format!("/inbox/media/{exe_message}?download=1&release=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), StatusCode::OK);
    assert_eq!(
        released.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(released.bytes().await.unwrap().as_ref(), exe.as_slice());
    let (_, found) = app.get("/api/v1/audit?action=media.release").await;
    assert_eq!(
        found["entries"][0]["target"],
        format!("message:{exe_message}")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn agents_cannot_send_programs() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000305", "Kai", "text", "Hallo")
        .await;
    let id = app.conversation_named("Kai").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"\x7fELF\x02\x01\x01\x00".to_vec())
            .file_name("manual.pdf")
            .mime_str("application/pdf")
            .unwrap(),
    );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{id}/messages")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("attachment"));
    assert_eq!(app.run_outbox().await.sent, 0);
    app.shutdown().await;
}

/// A stand-in for clamd on a Unix socket: `FOUND` for files that contain `VIRUS`.
fn fake_clamd(path: &std::path::Path) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut command = [0u8; 10];
            if stream.read_exact(&mut command).await.is_err() || &command != b"zINSTREAM\0" {
                continue;
            }
            let mut file = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes(len) as usize;
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0u8; len];
                if stream.read_exact(&mut chunk).await.is_err() {
                    break;
                }
                file.extend(chunk);
            }
            let reply: &[u8] = if file.windows(5).any(|w| w == b"VIRUS") {
                b"stream: Test.Fake-1 FOUND\0"
            } else {
                b"stream: OK\0"
            };
            let _ = stream.write_all(reply).await;
        }
    });
}

#[tokio::test]
async fn with_clamd_configured_files_are_scanned_there_and_wait_while_it_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("clamd.sock");
    let configured = socket.clone();
    let app = TestApp::spawn_with(move |config, _| {
        config.guard.clamd_socket = configured.to_string_lossy().into_owned();
    })
    .await;
    // Down: the file waits (retried), it is not stored unscanned.
    let id = customer_sends_file(
        &app,
        "4915100000306",
        "Lea",
        "a.pdf",
        b"%PDF-1.4 VIRUS inside",
    )
    .await;
    let report = app.app().media.run_once().await.unwrap();
    assert_eq!((report.stored, report.retried), (0, 1), "{report:?}");
    fake_clamd(&socket);
    customer_sends_file(&app, "4915100000306", "Lea", "b.pdf", b"%PDF-1.4 clean").await;
    // The first file is due again after its backoff.
    app.clock.advance_ms(5_000);
    let report = app.app().media.run_once().await.unwrap();
    assert_eq!((report.stored, report.quarantined), (2, 1), "{report:?}");
    let mut states: Vec<String> = media_states(&app.messages(&id).await)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    states.sort();
    assert_eq!(states, ["quarantined", "stored"]);
    app.shutdown().await;
}

/// Keys the test leaves alone: Meta's ids, routing numbers, times, types and hashes.
const META_KEYS: [&str; 18] = [
    "id",
    "from",
    "to",
    "from_user_id",
    "to_user_id",
    "timestamp",
    "type",
    "mime_type",
    "sha256",
    "message_id",
    "catalog_id",
    "product_retailer_id",
    "currency",
    "source_id",
    "source_type",
    "ctwa_clid",
    "media_type",
    "errors",
];
const IBAN: &str = "DE89 3704 0044 0532 0130 00";
const CPF: &str = "111.444.777-35";

/// Appends a card number, an IBAN and a CPF to every string of `value` but Meta's own fields.
fn plant(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            *s = format!("{s} card {CARD} iban {IBAN} cpf {CPF}");
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(plant),
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if !META_KEYS.contains(&key.as_str()) {
                    plant(item);
                }
            }
        }
        _ => {}
    }
}

/// The planted values, whole, in `text` (separators removed, so a re-spaced copy counts too).
fn whole_values_in(text: &str) -> Vec<&'static str> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\u{a0}'))
        .collect();
    [
        ("4111111111111111", "card"),
        ("DE89370400440532013000", "iban"),
        ("11144477735", "cpf"),
    ]
    .into_iter()
    .filter(|(digits, _)| compact.contains(digits))
    .map(|(_, name)| name)
    .collect()
}

#[tokio::test]
async fn no_planted_value_survives_in_any_field_of_any_message_kind() {
    use std::collections::BTreeSet;
    let app = TestApp::spawn().await;
    let state = &app.app().state;
    let mut policy = veil::guard::policy::Policy::default();
    for kind in ["iban", "br_cpf"] {
        policy.overrides.insert(
            kind.to_owned(),
            veil::guard::policy::Rule {
                inbound: veil::guard::policy::Action::Mask,
                outbound: veil::guard::policy::Action::Warn,
            },
        );
    }
    veil::inbox::screen::save_policy(state.store.as_ref(), &state.guard, policy, 0)
        .await
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(crate::helpers::fixtures_dir().join("webhooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "index.json")
        .collect();
    files.sort();
    let mut kinds = BTreeSet::new();
    for (n, path) in files.iter().enumerate() {
        let mut body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut planted = false;
        for entry in body["entry"].as_array_mut().into_iter().flatten() {
            for change in entry["changes"].as_array_mut().into_iter().flatten() {
                let value = &mut change["value"];
                for contact in value["contacts"].as_array_mut().into_iter().flatten() {
                    plant(&mut contact["profile"]);
                }
                for list in ["messages", "message_echoes"] {
                    for (m, message) in value[list].as_array_mut().into_iter().flatten().enumerate()
                    {
                        kinds.insert(message["type"].as_str().unwrap_or("none").to_owned());
                        plant(message);
                        message["id"] = serde_json::Value::from(format!("wamid.planted.{n}.{m}"));
                        planted = true;
                    }
                }
            }
        }
        if planted {
            assert_eq!(
                app.post_webhook(&serde_json::to_vec(&body).unwrap()).await,
                StatusCode::OK,
                "{}",
                path.display()
            );
        }
    }
    assert!(
        kinds.len() >= 14,
        "every fixture kind was planted: {kinds:?}"
    );
    // Every API answer, every field.
    let owner = app.add_user(Role::Owner).await;
    let browser = app.sign_in(&owner).await;
    let conversations = app.conversations().await;
    assert!(!conversations.is_empty());
    let (_, list) = app.get("/api/v1/conversations?limit=500").await;
    assert_eq!(
        whole_values_in(&list.to_string()),
        Vec::<&str>::new(),
        "{list}"
    );
    for conversation in &conversations {
        let id = conversation["id"].as_str().unwrap();
        let (_, body) = app
            .get(&format!("/api/v1/conversations/{id}/messages?limit=500"))
            .await;
        assert_eq!(
            whole_values_in(&body.to_string()),
            Vec::<&str>::new(),
            "{body}"
        );
        // The page an owner sees.
        let (status, html) = page(&app, &browser, &format!("/inbox/c/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(whole_values_in(&html), Vec::<&str>::new(), "page of {id}");
    }
    // Every stored row, decrypted with the keys: content and the payload kept for reprocessing.
    let keys = veil::keys::Keys::load(&app.config.key_file, state.store.as_ref())
        .await
        .unwrap();
    let rows = state.store.sealed_messages("", 100_000).await.unwrap();
    assert!(rows.len() >= 70, "{} stored payloads", rows.len());
    for row in rows {
        let key = keys
            .contact_key(state.store.as_ref(), &row.contact_id)
            .await
            .unwrap();
        let content = key
            .open(
                &veil_crypto::Aad::field("messages", "content", &row.id),
                &row.content_ct,
            )
            .unwrap();
        let raw = key
            .open(
                &veil_crypto::Aad::field("messages", "raw", &row.id),
                row.raw_ct.as_ref().unwrap(),
            )
            .unwrap();
        for plain in [&content[..], &raw[..]] {
            let text = String::from_utf8_lossy(plain);
            assert_eq!(whole_values_in(&text), Vec::<&str>::new(), "{text}");
        }
    }
    app.shutdown().await;
}

/// One signed webhook with one message object from `from`.
fn one_message(from: &str, message: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001","phone_number_id":"1"},
        "contacts":[{"profile":{"name":"Nora"},"wa_id":from}],"messages":[message]}}]}]}))
    .unwrap()
}

#[tokio::test]
async fn numbers_in_a_changed_number_notice_are_masked_for_those_who_may_not_reveal_them() {
    let app = TestApp::spawn().await;
    let system = serde_json::json!({"from":"4915100000401","id":"wamid.sys.1","timestamp":"1700000000","type":"system",
        "system":{"body":"Nora changed from +49 151 0000 0401 to +49 151 0000 0402","wa_id":"4915100000402","type":"user_changed_number"}});
    assert_eq!(
        app.post_webhook(&one_message("4915100000401", &system))
            .await,
        StatusCode::OK
    );
    let id = app.conversation_named("Nora").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token with every permission (reveal included) sees the numbers.
    let full = app.messages(&id).await;
    assert!(
        full[0]["text"]
            .as_str()
            .unwrap()
            .contains("+49 151 0000 0402")
    );
    // A token that may read but not reveal sees neither number, in the text or the detail.
    let (_, token) = app
        .post_json(
            "/api/v1/tokens",
            &serde_json::json!({"name":"reader","scopes":["conversation.read.all"]}),
        )
        .await;
    let masked: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{id}/messages")))
        .bearer_auth(token["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = masked["messages"][0].to_string();
    assert!(
        !message.contains("0000 0401") && !message.contains("0000 0402"),
        "{message}"
    );
    assert!(!message.contains("4915100000402"), "{message}");
    assert!(message.contains("+49•••••••••02"), "{message}");
    app.shutdown().await;
}

#[tokio::test]
async fn rescreen_masks_what_was_stored_before_the_policy_asked_for_it() {
    let app = TestApp::spawn().await;
    let state = &app.app().state;
    app.customer_writes("4915100000501", "Olga", "text", &format!("iban {IBAN}"))
        .await;
    let id = app.conversation_named("Olga").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.messages(&id).await[0]["text"], format!("iban {IBAN}"));
    let mut policy = veil::guard::policy::Policy::default();
    policy.overrides.insert(
        "iban".to_owned(),
        veil::guard::policy::Rule {
            inbound: veil::guard::policy::Action::Mask,
            outbound: veil::guard::policy::Action::Warn,
        },
    );
    veil::inbox::screen::save_policy(state.store.as_ref(), &state.guard, policy, 0)
        .await
        .unwrap();
    let keys = veil::keys::Keys::load(&app.config.key_file, state.store.as_ref())
        .await
        .unwrap();
    let report = veil::inbox::screen::rescreen(state.store.as_ref(), &keys, &state.guard)
        .await
        .unwrap();
    assert_eq!((report.messages, report.changed), (1, 1));
    let message = app.messages(&id).await[0].clone();
    assert_eq!(
        whole_values_in(&message.to_string()),
        vec!["iban"][..0].to_vec(),
        "{message}"
    );
    assert_eq!(message["guard"]["text"][0]["kind"], "iban");
    // A second pass finds nothing left to change.
    let again = veil::inbox::screen::rescreen(state.store.as_ref(), &keys, &state.guard)
        .await
        .unwrap();
    assert_eq!(again.changed, 0);
    app.shutdown().await;
}
