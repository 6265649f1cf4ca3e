//! Encryption at rest: nothing readable on disk, key rotation loses nothing, shredding a
//! contact's key makes its data unreadable; inbound media is fetched, checked and sealed.

use reqwest::StatusCode;

use crate::helpers::{TestApp, postgres_url};

const NAME: &str = "Zyxwvut Qwertyson";
const NUMBER: &str = "4915199887766";
const BODY: &str = "SECRET-BODY-marker-31337";
const CAPTION: &str = "CAPTION-marker-4242";
const REPLY: &str = "REPLY-marker-67890";

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_body_name_or_number_is_readable_on_disk() {
    let app = TestApp::spawn().await;
    app.customer_writes(NUMBER, NAME, "text", BODY).await;
    app.customer_writes(NUMBER, NAME, "image", CAPTION).await;
    let fetched = app.app().media.run_once().await.unwrap();
    assert_eq!(fetched.stored, 1);
    let id = app.conversation_named(NAME).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send_text(&id, REPLY).await;
    app.run_outbox().await;
    // The API shows it all to an authorised caller…
    let texts: Vec<String> = app
        .messages(&id)
        .await
        .iter()
        .map(|m| format!("{}{}", m["text"], m["caption"]))
        .collect();
    assert!(
        texts.iter().any(|t| t.contains(BODY))
            && texts.iter().any(|t| t.contains(CAPTION))
            && texts.iter().any(|t| t.contains(REPLY))
    );
    // …while the database file, its WAL and the media directory hold none of it.
    assert_not_stored(
        &app,
        &[NAME, NUMBER, BODY, CAPTION, REPLY, "Zyxwvut", "99887766"],
    );
    app.shutdown().await;
}

/// None of `needles` is in the data directory (database, WAL, media; not the key file) or, on
/// PostgreSQL, in a dump of the database: as text, UTF-16 or hex.
pub fn assert_not_stored(app: &TestApp, needles: &[&str]) {
    let files = files_under(app.dir.path());
    if postgres_url().is_none() {
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.contains(&"veil.db-wal".to_owned()),
            "the WAL is checked too: {names:?}"
        );
    }
    let mut checked = 0;
    let mut blobs: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|p| !p.ends_with("master.key"))
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    if let Some(url) = app.postgres_database_url() {
        // On PostgreSQL the data is not in our directory: dump the whole database and check that.
        let dump = std::process::Command::new("pg_dump")
            .args(["--data-only", &url])
            .output()
            .expect("pg_dump runs");
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        blobs.push(("pg_dump".into(), dump.stdout));
    }
    for (path, bytes) in &blobs {
        checked += bytes.len();
        for needle in needles.iter().copied() {
            assert!(
                !contains(bytes, needle.as_bytes()),
                "{needle:?} found in {path}"
            );
            let utf16: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
            assert!(
                !contains(bytes, &utf16),
                "{needle:?} (UTF-16) found in {path}"
            );
            // pg_dump writes BYTEA as hex: plaintext in a binary column would show up like this.
            assert!(
                !contains(bytes, hex::encode(needle).as_bytes()),
                "{needle:?} (hex) found in {path}"
            );
        }
    }
    assert!(checked > 10_000, "only {checked} bytes were checked");
}

#[tokio::test]
async fn rotating_the_master_key_keeps_every_record_readable() {
    let app = TestApp::spawn().await;
    for n in 0..5 {
        app.customer_writes(
            &format!("4915100000{n:03}"),
            &format!("Rotation {n}"),
            "text",
            &format!("before {n}"),
        )
        .await;
    }
    let store = app.app().state.store.clone();
    let before = store.key_versions_in_use().await.unwrap();
    assert_eq!(
        before,
        vec![(1, 7)],
        "five contacts, the installation key and this month's slice of it"
    );
    assert!(
        veil::keys::retire(&app.config.key_file, store.as_ref(), 1)
            .await
            .is_err(),
        "version 1 is in use"
    );
    let report = veil::keys::rotate(&app.config.key_file, store.as_ref())
        .await
        .unwrap();
    assert_eq!((report.new_version, report.resealed), (2, 7));
    assert_eq!(store.key_versions_in_use().await.unwrap(), vec![(2, 7)]);
    veil::keys::retire(&app.config.key_file, store.as_ref(), 1)
        .await
        .unwrap();
    // The running app reloads the key file and still reads everything, old and new.
    app.customer_writes("4915100000099", "After Rotation", "text", "after")
        .await;
    for n in 0..5 {
        let conversation = app.conversation_named(&format!("Rotation {n}")).await;
        let messages = app.messages(conversation["id"].as_str().unwrap()).await;
        assert_eq!(messages[0]["text"], format!("before {n}"));
    }
    assert_eq!(app.conversations().await.len(), 6);
    assert_eq!(
        store.key_versions_in_use().await.unwrap(),
        vec![(2, 8)],
        "new contacts use the new version"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn shredding_a_contacts_key_makes_its_data_unreadable() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000200", "Shred Me", "text", "my secret")
        .await;
    app.customer_writes("4915100000201", "Keep Me", "text", "stays")
        .await;
    let conversation = app.conversation_named("Shred Me").await;
    let (id, contact) = (
        conversation["id"].as_str().unwrap().to_owned(),
        conversation["contact"]["id"].as_str().unwrap().to_owned(),
    );
    app.app()
        .state
        .store
        .shred_contact_key(&contact)
        .await
        .unwrap();
    let (_, body) = app
        .get(&format!("/api/v1/conversations/{id}/messages"))
        .await;
    assert_eq!(body["conversation"]["contact"]["erased"], true);
    assert_eq!(
        body["conversation"]["contact"]["display_name"],
        serde_json::Value::Null
    );
    assert_eq!(body["messages"][0]["content_available"], false);
    assert_eq!(body["messages"][0]["text"], serde_json::Value::Null);
    assert!(
        veil::keys::Keys::load(&app.config.key_file, app.app().state.store.as_ref())
            .await
            .unwrap()
            .contact_key(app.app().state.store.as_ref(), &contact)
            .await
            .is_err()
    );
    let kept = app.conversation_named("Keep Me").await;
    assert_eq!(
        app.messages(kept["id"].as_str().unwrap()).await[0]["text"],
        "stays"
    );
    // Writing again after erasure starts with a fresh key: new messages readable, old ones not.
    app.customer_writes("4915100000200", "Shred Me", "text", "new start")
        .await;
    let texts: Vec<serde_json::Value> = app.message_texts(&id).await;
    assert_eq!(
        texts,
        vec![
            serde_json::Value::Null,
            serde_json::Value::from("new start")
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn inbound_media_is_fetched_checked_and_served_only_with_a_token() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000300", "Media Mo", "image", "look")
        .await;
    let id = app.conversation_named("Media Mo").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = app.messages(&id).await.remove(0);
    assert_eq!(
        message["media"]["state"], "pending",
        "the message is stored before its media"
    );
    let report = app.app().media.run_once().await.unwrap();
    assert_eq!(report.stored, 1);
    let message = app.messages(&id).await.remove(0);
    assert_eq!(message["media"]["state"], "stored");
    let url = app.url(message["media"]["url"].as_str().unwrap());
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let bytes = response.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\xFF\xD8\xFF"),
        "the JPEG the customer sent"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn expired_media_is_shown_as_expired_and_the_message_kept() {
    let app = TestApp::spawn().await;
    let spec = cloud_api_sim::InboundSpec {
        from: "4915100000301".into(),
        name: "Late Lou".into(),
        kind: "document".into(),
        text: "old file".into(),
        context_wamid: None,
        expired_media: true,
        file: None,
    };
    app.sim.customer_writes(&spec).unwrap();
    app.settle().await;
    assert_eq!(app.app().media.run_once().await.unwrap().expired, 1);
    let id = app.conversation_named("Late Lou").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = app.messages(&id).await.remove(0);
    assert_eq!(
        (
            message["media"]["state"].as_str(),
            message["caption"].as_str()
        ),
        (Some("expired"), Some("old file"))
    );
    let (status, body) = app.get(message["media"]["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_auditors_search_terms_never_enter_the_log() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000801", "Uma", "text", "hello")
        .await;
    let canary = "4917612345678 Jane Canary";
    let q: String = form_urlencoded::byte_serialize(canary.as_bytes()).collect();
    let auditor = app.add_user(veil::identity::Role::Auditor).await;
    let browser = app.sign_in(&auditor).await;
    for path in [
        format!("/api/v1/audit?actor={q}&action={q}&target={q}"),
        format!("/api/v1/audit/export?format=csv&actor={q}&action={q}&target={q}"),
        format!("/api/v1/audit/export?format=json&actor={q}&target={q}"),
    ] {
        let (status, _) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _) = crate::helpers::page(
        &app,
        &browser,
        &format!("/audit?actor={q}&action={q}&target={q}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The searches are logged (four of them), by digest.
    let entries = app.app().state.store.audit_range(0, 100_000).await.unwrap();
    let searches: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "audit.search" || e.action == "audit.export")
        .collect();
    assert!(searches.len() >= 4, "{searches:?}");
    assert!(
        searches.iter().all(|e| e.reason.contains("target#")),
        "{searches:?}"
    );
    app.app().state.audit.checkpoint().await.unwrap();
    assert_not_stored(&app, &[canary, "4917612345678", "Jane Canary", "Canary"]);
    app.shutdown().await;
}

#[tokio::test]
async fn statuses_are_sealed_by_a_slice_of_the_installation_key_per_month() {
    use sqlx::Row as _;
    let app = TestApp::spawn().await;
    let state = &app.app().state;
    let status = |id: &str| {
        serde_json::to_vec(&serde_json::json!({"entry": [{"changes": [{"field": "messages", "value": {"statuses": [
            {"id": id, "status": "delivered", "timestamp": "1700000000", "recipient_id": "4915100000777"}]}}]}]}))
        .unwrap()
    };
    assert_eq!(app.post_webhook(&status("wamid.s1")).await, StatusCode::OK);
    app.clock.advance_ms(40 * 86_400_000);
    assert_eq!(app.post_webhook(&status("wamid.s2")).await, StatusCode::OK);
    let url = app.config.database_url.expose();
    let rows: Vec<(String, String, Vec<u8>)> = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query("SELECT id, key_name, raw_ct FROM status_events ORDER BY wamid")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query("SELECT id, key_name, raw_ct FROM status_events ORDER BY wamid")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    assert_eq!(rows.len(), 2);
    assert_ne!(rows[0].1, rows[1].1, "another month, another slice");
    let keys = &state.inbox.keys;
    for (n, (id, slice, ct)) in rows.iter().enumerate() {
        let aad = veil_crypto::Aad::field("status_events", "raw", id);
        let own = keys.slice_key(state.store.as_ref(), slice).await.unwrap();
        let raw = String::from_utf8(own.open(&aad, ct).unwrap().to_vec()).unwrap();
        assert!(
            !raw.contains("4915100000777"),
            "no recipient number under it: {raw}"
        );
        let other = &rows[1 - n].1;
        let other = keys.slice_key(state.store.as_ref(), other).await.unwrap();
        assert!(other.open(&aad, ct).is_err(), "only its own slice opens it");
        assert!(keys.system().open(&aad, ct).is_err());
    }
    app.shutdown().await;
}
