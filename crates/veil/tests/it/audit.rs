//! The audit log (issue 5): what lands in it, proofs a third party can check, and tampering.

use reqwest::StatusCode;
use veil::audit::{AuditEvent, AuditLog};
use veil::identity::Role;
use veil::store::{AuditCount, AuditFilter, AuditKey};
use veil_crypto::CheckpointVerifier;
use veil_crypto::merkle;

use crate::helpers::TestApp;

#[tokio::test]
async fn reads_and_sign_ins_are_logged_and_a_proof_checks_without_veil() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000501", "Ada Lovelace", "text", "hello")
        .await;
    let ada = app.conversation_named("Ada Lovelace").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let boss = app.add_user(Role::Supervisor).await;
    let browser = app.sign_in(&boss).await;
    let page = browser
        .client
        .get(app.url(&format!("/inbox/c/{ada}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let stranger = app.browser();
    app.post_login(&stranger, &boss.email, "wrong password entirely")
        .await;

    let (status, found) = app
        .get(&format!("/api/v1/audit?target=conversation:{ada}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = found["entries"].as_array().unwrap();
    let view = entries
        .iter()
        .find(|e| e["action"] == "conversation.view" && e["actor"] == format!("user:{}", boss.id))
        .expect("the conversation view is logged");
    let (_, all) = app.get("/api/v1/audit?limit=1000").await;
    let all = all["entries"].as_array().unwrap();
    for action in [
        "login.success",
        "login.failure",
        "config.start",
        "audit.search",
    ] {
        assert!(all.iter().any(|e| e["action"] == action), "{action} logged");
    }
    let text = serde_json::to_string(all).unwrap();
    for secret in ["Ada", "4915100000501", "hello", &boss.email] {
        assert!(!text.contains(secret), "entries carry ids only ({secret})");
    }

    // CSV export: audited, and formula-looking cells neutralised.
    let audit = &app.app().state.audit;
    audit
        .record(
            AuditEvent::system("cli", "test.formula", "x").reason("=HYPERLINK(\"http://evil\")"),
        )
        .await
        .unwrap();
    let csv = app
        .client
        .get(app.url("/api/v1/audit/export?format=csv"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    let (_, after) = app.get("/api/v1/audit?action=audit.export").await;
    assert_eq!(
        after["entries"].as_array().unwrap().len(),
        1,
        "the export is logged"
    );

    // A proof of the view, checked with nothing but the printed text and RFC 6962.
    let seq = view["seq"].as_i64().unwrap();
    let proof = serde_json::to_value(audit.proof(seq).await.unwrap()).unwrap();
    let key = CheckpointVerifier::parse(proof["key"].as_str().unwrap()).unwrap();
    let checkpoint = key.open(proof["checkpoint"].as_str().unwrap()).unwrap();
    let hashes: Vec<merkle::Hash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let entry = proof["entry"].as_str().unwrap();
    assert!(entry.contains(&format!("conversation:{ada}")));
    merkle::verify_inclusion(
        entry.as_bytes(),
        proof["index"].as_u64().unwrap(),
        checkpoint.size,
        &checkpoint.root,
        &hashes,
    )
    .unwrap();
    let forged = entry.replace("conversation.view", "conversation.list");
    assert!(
        merkle::verify_inclusion(
            forged.as_bytes(),
            proof["index"].as_u64().unwrap(),
            checkpoint.size,
            &checkpoint.root,
            &hashes
        )
        .is_err()
    );
    assert!(audit.verify(None).await.unwrap().ok());
    app.shutdown().await;
}

/// Raw SQL against the test database, outside Veil's store.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn open(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqlitePool::connect(url).await.unwrap())
        } else {
            Self::Postgres(sqlx::PgPool::connect(url).await.unwrap())
        }
    }

    async fn exec(&self, sql: &str) {
        match self {
            Self::Sqlite(p) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(p)
                    .await
                    .unwrap();
            }
            Self::Postgres(p) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A small deterministic generator, so a failure names a reproducible place.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn fill(audit: &AuditLog, from: usize, to: usize) {
    let events = (from..to)
        .map(|i| {
            AuditEvent::system(
                &format!("user:u{}", i % 7),
                "conversation.view",
                format!("conversation:entry-{i:05}-x"),
            )
        })
        .collect();
    audit.append(events).await.unwrap();
}

#[tokio::test]
async fn changing_deleting_reordering_inserting_or_rolling_back_entries_is_detected() {
    let app = TestApp::spawn().await;
    let audit = app.app().state.audit.clone();
    let base = audit.store().audit_head().await.unwrap().0;
    fill(&audit, 0, 200).await;
    audit.checkpoint().await.unwrap();
    fill(&audit, 200, 260).await;
    let saved = audit.checkpoint().await.unwrap();
    assert!(audit.verify(None).await.unwrap().ok());
    let raw = Raw::open(app.config.database_url.expose()).await;
    let total = base + 260;
    let mut rng = Lcg(7);
    for trial in 0..28 {
        let seq = i64::try_from(rng.below(u64::try_from(total).unwrap())).unwrap();
        let other = (seq + 1 + i64::try_from(rng.below(40)).unwrap()) % total;
        let (mutate, undo): (String, String) = match trial % 7 {
            0 => (
                format!("UPDATE audit_log SET actor = actor || 'x' WHERE seq = {seq}"),
                format!(
                    "UPDATE audit_log SET actor = substr(actor, 1, length(actor) - 1) WHERE seq = {seq}"
                ),
            ),
            1 => (
                format!("UPDATE audit_log SET at = at + 1 WHERE seq = {seq}"),
                format!("UPDATE audit_log SET at = at - 1 WHERE seq = {seq}"),
            ),
            2 => (
                format!(
                    "UPDATE audit_log SET outcome = 'denied' WHERE seq = {seq} AND outcome = 'ok'; UPDATE audit_log SET reason = reason || 'r' WHERE seq = {seq}"
                ),
                format!(
                    "UPDATE audit_log SET outcome = 'ok' WHERE seq = {seq} AND outcome = 'denied'; UPDATE audit_log SET reason = substr(reason, 1, length(reason) - 1) WHERE seq = {seq}"
                ),
            ),
            3 => (
                format!("UPDATE audit_log SET seq = -1 WHERE seq = {seq}"),
                format!("UPDATE audit_log SET seq = {seq} WHERE seq = -1"),
            ),
            // Reorder: swap two entries' places.
            4 => (
                format!(
                    "UPDATE audit_log SET seq = -2 WHERE seq = {seq}; UPDATE audit_log SET seq = {seq} WHERE seq = {other}; UPDATE audit_log SET seq = {other} WHERE seq = -2"
                ),
                format!(
                    "UPDATE audit_log SET seq = -2 WHERE seq = {other}; UPDATE audit_log SET seq = {other} WHERE seq = {seq}; UPDATE audit_log SET seq = {seq} WHERE seq = -2"
                ),
            ),
            // Insert: a forged entry in the middle, later entries moved up.
            5 => (
                format!(
                    "UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= {seq}; UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000; \
                   INSERT INTO audit_log (seq, at, actor, action, target, ip, outcome, reason, leaf_hash) SELECT {seq}, at, actor, action, target, ip, outcome, reason, leaf_hash FROM audit_log WHERE seq = {seq} + 1"
                ),
                format!(
                    "DELETE FROM audit_log WHERE seq = {seq}; UPDATE audit_log SET seq = seq + 999999 WHERE seq > {seq}; UPDATE audit_log SET seq = seq - 1000000 WHERE seq >= 1000000"
                ),
            ),
            // An edit whose leaf hash was recomputed too is caught by the signed root.
            _ => (
                format!(
                    "UPDATE audit_log SET leaf_hash = (SELECT leaf_hash FROM audit_log WHERE seq = {other}) WHERE seq = {seq}; UPDATE audit_log SET target = 'x' WHERE seq = -5"
                ),
                String::new(),
            ),
        };
        let before = if trial % 7 == 6 {
            Some(audit.store().audit_range(seq, 1).await.unwrap().remove(0))
        } else {
            None
        };
        raw.exec(&mutate).await;
        let report = audit.verify(None).await.unwrap();
        assert!(
            !report.ok(),
            "trial {trial} at entry {seq} not detected: {mutate}"
        );
        let named = report
            .first_bad_entry
            .expect("the first wrong entry is named");
        // An inserted copy can look right; then the first moved entry is the first wrong one.
        assert!(
            named <= seq.max(other) + 1,
            "trial {trial}: named {named} for a change at {seq}"
        );
        if let Some(row) = before {
            let hex = hex::encode(&row.leaf_hash);
            let restore = match &raw {
                Raw::Sqlite(_) => {
                    format!("UPDATE audit_log SET leaf_hash = x'{hex}' WHERE seq = {seq}")
                }
                Raw::Postgres(_) => {
                    format!("UPDATE audit_log SET leaf_hash = '\\x{hex}'::bytea WHERE seq = {seq}")
                }
            };
            raw.exec(&restore).await;
        } else {
            raw.exec(&undo).await;
        }
        let again = audit.verify(None).await.unwrap();
        assert!(
            again.ok(),
            "trial {trial}: undo did not restore: {:?}",
            again.problem
        );
    }

    // Roll back to the first checkpoint: entries, nodes, the newer checkpoint and the head all
    // consistent with size base+200. The checkpoint file outside the database still knows.
    let short = base + 200;
    let mut tree = merkle::MemoryTree::new();
    for row in audit.store().audit_range(0, short).await.unwrap() {
        tree.push(row.leaf_hash.as_slice().try_into().unwrap());
    }
    let frontier = hex::encode(tree.frontier().to_bytes());
    let head = match &raw {
        Raw::Sqlite(_) => format!("x'{frontier}'"),
        Raw::Postgres(_) => format!("'\\x{frontier}'::bytea"),
    };
    raw.exec(&format!(
        "DELETE FROM audit_log WHERE seq >= {short}; DELETE FROM audit_nodes WHERE (idx + 1) * (CAST(1 AS BIGINT) << level) > {short}; \
         DELETE FROM audit_checkpoints WHERE size > {short}; UPDATE audit_head SET size = {short}, frontier = {head} WHERE id = 1"
    ))
    .await;
    let report = audit.verify(None).await.unwrap();
    assert!(
        !report.ok()
            && report
                .problem
                .as_deref()
                .unwrap_or("")
                .contains("rolled back"),
        "{:?}",
        report.problem
    );
    // Without the file, a checkpoint kept elsewhere catches it.
    std::fs::remove_file(&app.config.audit.checkpoint_file).unwrap();
    assert!(
        audit.verify(None).await.unwrap().ok(),
        "self-consistent without outside anchors"
    );
    let report = audit.verify(Some(&saved.note)).await.unwrap();
    assert!(
        !report.ok(),
        "the log must extend the checkpoint kept elsewhere"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn searches_find_keyed_and_unkeyed_entries_alike_and_verify_checks_the_keys() {
    let app = TestApp::spawn().await;
    let audit = app.app().state.audit.clone();
    let store = audit.store().clone();
    // More than one keying batch (8,192 entries) in one append, then an unkeyed tail written a
    // second later.
    fill(&audit, 0, 9000).await;
    let later = {
        app.clock.advance_ms(1000);
        veil::clock::Clock::now_ms(app.clock.as_ref())
    };
    fill(&audit, 9000, 9050).await;
    let (_, keyed, keys) = store.audit_keys_check().await.unwrap();
    let size = store.audit_head().await.unwrap().0;
    assert!(keyed > 9000 && keyed < size, "keyed {keyed} of {size}");
    assert_eq!(keys, 2 * keyed);

    let search = |filter: AuditFilter, limit: i64| {
        let store = store.clone();
        async move { store.search_audit(&filter, limit).await.unwrap() }
    };
    let by_actor = |actor: &str| AuditFilter {
        actor: Some(actor.to_owned()),
        ..AuditFilter::default()
    };
    let threes: Vec<usize> = (0..9050).filter(|i| i % 7 == 3).collect();
    let rows = search(by_actor("user:u3"), 10_000).await;
    assert_eq!(
        rows.len(),
        threes.len(),
        "every entry of the actor, keyed or not"
    );
    assert!(rows.iter().all(|r| r.actor == "user:u3"));
    assert!(rows.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let newest = search(by_actor("user:u3"), 10).await;
    assert_eq!(newest, rows[..10].to_vec());
    // Paging across the boundary between the tail and the keys.
    let boundary = rows.iter().position(|r| r.seq < keyed).unwrap();
    let page = search(
        AuditFilter {
            before_seq: Some(rows[boundary - 2].seq),
            ..by_actor("user:u3")
        },
        4,
    )
    .await;
    assert_eq!(page, rows[boundary - 1..boundary + 3].to_vec());
    // A time range picks the tail only.
    let tail = search(
        AuditFilter {
            from: Some(later),
            ..by_actor("user:u3")
        },
        10_000,
    )
    .await;
    assert_eq!(tail.len(), (9000..9050).filter(|i| i % 7 == 3).count());
    // By target, keyed and unkeyed, and with an actor too.
    for i in [5usize, 8999, 9040] {
        let target = format!("conversation:entry-{i:05}-x");
        let found = search(
            AuditFilter {
                target: Some(target.clone()),
                ..AuditFilter::default()
            },
            10,
        )
        .await;
        assert_eq!(found.len(), 1, "{target}");
        assert_eq!(found[0].actor, format!("user:u{}", i % 7));
        let wrong_actor = search(
            AuditFilter {
                target: Some(target),
                ..by_actor(&format!("user:u{}", (i + 1) % 7))
            },
            10,
        )
        .await;
        assert!(wrong_actor.is_empty());
    }
    // What alert rules count and read.
    let count = |key, since| AuditCount {
        key,
        actions: &["conversation.view"],
        since,
        until: i64::MAX,
    };
    assert_eq!(
        store
            .count_audit(&count(AuditKey::Actor("user:u3"), 0))
            .await
            .unwrap(),
        i64::try_from(threes.len()).unwrap()
    );
    assert_eq!(
        store
            .count_audit(&count(AuditKey::Actor("user:u3"), later))
            .await
            .unwrap(),
        i64::try_from(tail.len()).unwrap()
    );
    assert_eq!(
        store
            .count_audit(&count(AuditKey::Target("conversation:entry-00005-x"), 0))
            .await
            .unwrap(),
        1
    );
    let ips = store
        .audit_ips("user:u3", &["conversation.view"], size + 1, 10)
        .await
        .unwrap();
    assert_eq!(ips, vec![String::new()]);

    // The keys are checked: one missing, or pointing elsewhere, fails verification.
    assert!(audit.verify(None).await.unwrap().ok());
    let raw = Raw::open(app.config.database_url.expose()).await;
    let seq = rows[boundary + 5].seq;
    raw.exec(&format!(
        "UPDATE audit_keys SET term = 'a:user:u4' WHERE term = 'a:user:u3' AND seq = {seq}"
    ))
    .await;
    let report = audit.verify(None).await.unwrap();
    assert!(
        report
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("search keys"),
        "{:?}",
        report.problem
    );
    raw.exec(&format!(
        "UPDATE audit_keys SET term = 'a:user:u3' WHERE term = 'a:user:u4' AND seq = {seq}"
    ))
    .await;
    assert!(audit.verify(None).await.unwrap().ok());
    raw.exec(&format!("DELETE FROM audit_keys WHERE seq = {seq}"))
        .await;
    assert!(!audit.verify(None).await.unwrap().ok());
    app.shutdown().await;
}

#[tokio::test]
async fn random_byte_flips_in_the_sqlite_file_are_detected() {
    if crate::helpers::postgres_url().is_some() {
        return; // a file-level test; the SQL-level one above runs on PostgreSQL too
    }
    let mut app = TestApp::spawn().await;
    let audit = app.app().state.audit.clone();
    fill(&audit, 0, 300).await;
    audit.checkpoint().await.unwrap();
    let live: Vec<_> = audit.store().audit_range(0, 10_000).await.unwrap();
    drop(audit);
    app.app.take().unwrap().shutdown().await;
    // Fold the WAL into the file, so that the file is the whole database.
    let raw = Raw::open(app.config.database_url.expose()).await;
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)").await;
    if let Raw::Sqlite(pool) = raw {
        pool.close().await;
    }
    let bytes = std::fs::read(app.dir.path().join("veil.db")).unwrap();
    let setup = veil::audit::AuditSetup::from_config(&app.config);
    let mut rng = Lcg(11);
    for trial in 0..40 {
        let entry = usize::try_from(rng.below(300)).unwrap();
        let row = live
            .iter()
            .find(|r| r.target == format!("conversation:entry-{entry:05}-x"))
            .unwrap();
        // The table's record: target, ip, outcome, reason, then the 32-byte leaf hash.
        let mut record =
            format!("{}{}{}{}", row.target, row.ip, row.outcome, row.reason).into_bytes();
        record.extend_from_slice(&row.leaf_hash);
        // Every copy of it: page splits leave stale copies in freed pages, which are not part of
        // the log. A flip there must change nothing; a flip in the live record is detected.
        let places: Vec<usize> = bytes
            .windows(record.len())
            .enumerate()
            .filter(|(_, w)| *w == record.as_slice())
            .map(|(i, _)| i)
            .collect();
        let delta = usize::try_from(rng.below(u64::try_from(record.len()).unwrap())).unwrap();
        let bit = 1u8 << rng.below(8);
        let mut live_hit = false;
        for (n, at) in places.into_iter().enumerate() {
            let offset = at + delta;
            let mut copy = bytes.clone();
            copy[offset] ^= bit;
            let path = app.dir.path().join(format!("flip{trial}-{n}.db"));
            std::fs::write(&path, &copy).unwrap();
            let Ok(store) = veil::store::open(&format!("sqlite://{}", path.display())).await else {
                live_hit = true; // the database no longer opens: detected
                continue;
            };
            let unchanged = store
                .audit_range(0, 10_000)
                .await
                .is_ok_and(|rows| rows == live);
            let log = AuditLog::start(store, app.clock.clone(), &setup)
                .await
                .unwrap();
            let verdict = log.verify(None).await.map(|r| r.ok());
            if unchanged {
                assert!(
                    matches!(verdict, Ok(true)),
                    "trial {trial}: a flip in freed space is not a change"
                );
                continue;
            }
            live_hit = true;
            assert!(
                !matches!(verdict, Ok(true)),
                "trial {trial}: flip at byte {offset} (entry {entry}) not detected"
            );
        }
        assert!(live_hit, "trial {trial}: no copy of entry {entry} was live");
    }
    app.shutdown().await;
}

/// A local webhook receiver: hands over (headers, body) of each POST.
async fn webhook_sink() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Vec<u8>)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    tx.send((headers, body.to_vec())).unwrap();
                    StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, rx)
}

#[tokio::test]
async fn alert_rules_fire_once_and_go_out_by_email_and_signed_webhook() {
    const SECRET: &str = "a webhook secret of some length";
    let (smtp_port, mut mails) = crate::helpers::smtp_sink().await;
    let (hook_url, mut hooks) = webhook_sink().await;
    let app = TestApp::spawn_with(|config, _| {
        let a = &mut config.alerts;
        a.email_to = "dpo@example.com".into();
        a.smtp_from = "veil@example.com".into();
        a.smtp_host = "127.0.0.1".into();
        a.smtp_port = smtp_port;
        a.smtp_security = veil::config::SmtpSecurity::None;
        a.webhook_url = hook_url;
        a.webhook_secret = SECRET.to_owned().into();
        a.off_hours = false;
    })
    .await;
    let state = &app.app().state;
    let client = |ip: &str| veil::identity::Client {
        ip: ip.parse().unwrap(),
        user_agent: String::new(),
    };
    let mut events = Vec::new();
    // Ten reveals in an hour by one supervisor.
    for i in 0..10 {
        events.push(AuditEvent::from_client(
            "user:s1",
            &client("10.0.0.5"),
            "contact.reveal_phone",
            format!("conversation:c{i}"),
        ));
    }
    // A sign-in from a known network, then from a new one.
    events.push(AuditEvent::from_client(
        "user:a1",
        &client("10.0.0.5"),
        "login.success",
        "user:a1",
    ));
    events.push(AuditEvent::from_client(
        "user:a1",
        &client("10.0.0.9"),
        "login.success",
        "user:a1",
    ));
    events.push(AuditEvent::from_client(
        "user:a1",
        &client("203.0.113.7"),
        "login.success",
        "user:a1",
    ));
    // A token used from its usual address, then from another network.
    events.push(AuditEvent::from_client(
        "token:t1",
        &client("192.0.2.10"),
        "inbox.list",
        "conversations",
    ));
    events.push(AuditEvent::from_client(
        "token:t1",
        &client("198.51.100.1"),
        "inbox.list",
        "conversations",
    ));
    // Sixty-one conversation views in an hour by an agent with no history.
    for i in 0..61 {
        events.push(AuditEvent::from_client(
            "user:a2",
            &client("10.0.0.6"),
            "conversation.view",
            format!("conversation:v{i}"),
        ));
    }
    // Eleven failed sign-ins for one account.
    for _ in 0..11 {
        events.push(
            AuditEvent::from_client(
                "anonymous",
                &client("198.51.100.9"),
                "login.failure",
                "user:victim",
            )
            .outcome(veil::audit::Outcome::Denied),
        );
    }
    // Three exports.
    for _ in 0..3 {
        events.push(AuditEvent::from_client(
            "user:au",
            &client("10.0.0.7"),
            "audit.export",
            "audit_log",
        ));
    }
    state.audit.append(events).await.unwrap();

    assert_eq!(state.alerter.run_once().await.unwrap(), 6);
    assert_eq!(state.alerter.run_once().await.unwrap(), 0, "nothing twice");
    let alerts = state.store.alerts(50).await.unwrap();
    let mut fired: Vec<(String, String)> = alerts
        .iter()
        .map(|a| (a.rule.clone(), a.actor.clone()))
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        [
            ("bulk_export", "user:au"),
            ("failed_logins", "user:victim"),
            ("many_reveals", "user:s1"),
            ("new_network_login", "user:a1"),
            ("token_new_address", "token:t1"),
            ("views_above_baseline", "user:a2"),
        ]
        .map(|(r, a)| (r.to_owned(), a.to_owned()))
    );

    assert_eq!(state.deliverer.run_once().await.unwrap(), 12);
    let mut subjects = Vec::new();
    for _ in 0..6 {
        let mail = mails.recv().await.unwrap();
        subjects.push(
            mail.lines()
                .find(|l| l.starts_with("Subject:"))
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        subjects.contains(&"Subject: Veil alert: many_reveals".to_owned()),
        "{subjects:?}"
    );
    for _ in 0..6 {
        let (headers, body) = hooks.recv().await.unwrap();
        let ts: i64 = headers["x-veil-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            headers["x-veil-signature"].to_str().unwrap(),
            veil::audit::deliver::sign_webhook(SECRET.as_bytes(), ts, &body)
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json["rule"].is_string() && json["seq"].is_i64());
    }
    assert_eq!(state.deliverer.run_once().await.unwrap(), 0, "sent once");
    assert!(
        state
            .store
            .alerts(50)
            .await
            .unwrap()
            .iter()
            .all(|a| a.email_state == "sent" && a.webhook_state == "sent")
    );
    app.shutdown().await;
}

/// The `data-<name>` values of the audit page's rows, top to bottom.
fn row_values(html: &str, name: &str) -> Vec<String> {
    let marker = format!(" data-{name}=\"");
    html.split(&marker)
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn auditors_filter_export_and_verify_on_their_page_and_admins_acknowledge_alerts() {
    use crate::helpers::{location, page, post_form};
    let app = TestApp::spawn().await;
    let auditor = app.add_user(Role::Auditor).await;
    let admin = app.add_user(Role::Admin).await;
    let agent = app.add_user(Role::Agent).await;
    let agent_browser = app.sign_in(&agent).await;
    let (status, _) = page(&app, &agent_browser, "/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "agents do not read the log");
    let auditor_browser = app.sign_in(&auditor).await;
    let home = auditor_browser
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&home), "/audit", "an auditor starts at the log");

    // Filter by action, then by actor; every row shown matches.
    let (status, html) = page(&app, &auditor_browser, "/audit?action=login.success").await;
    assert_eq!(status, StatusCode::OK);
    let actions = row_values(&html, "action");
    assert!(actions.len() >= 2, "{actions:?}");
    assert!(actions.iter().all(|a| a == "login.success"), "{actions:?}");
    let agent_label = format!("user:{}", agent.id);
    let (_, html) = page(
        &app,
        &auditor_browser,
        &format!("/audit?actor={agent_label}"),
    )
    .await;
    let actors = row_values(&html, "actor");
    assert!(!actors.is_empty());
    assert!(actors.iter().all(|a| *a == agent_label), "{actors:?}");
    assert!(
        html.contains("Test Person"),
        "the actor's name is shown beside the id"
    );
    // Days: nothing logged tomorrow (UTC); a malformed day is refused.
    let tomorrow = time::OffsetDateTime::from_unix_timestamp(
        veil::clock::Clock::now_ms(app.clock.as_ref()) / 1000 + 86_400,
    )
    .unwrap()
    .date();
    let (_, html) = page(&app, &auditor_browser, &format!("/audit?from={tomorrow}")).await;
    assert!(
        html.contains("id=\"no-entries\""),
        "no entries from tomorrow"
    );
    let (_, html) = page(&app, &auditor_browser, &format!("/audit?to={tomorrow}")).await;
    assert!(
        !row_values(&html, "seq").is_empty(),
        "entries up to tomorrow"
    );
    let (status, _) = page(&app, &auditor_browser, "/audit?from=yesterday").await;
    assert!(status.is_client_error(), "{status}");

    // Paging: 150 more entries make two pages that meet without a gap.
    let audit = app.app().state.audit.clone();
    fill(&audit, 0, 150).await;
    let (_, html) = page(&app, &auditor_browser, "/audit?action=conversation.view").await;
    let first: Vec<i64> = row_values(&html, "seq")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(first.len(), 100);
    let older = html
        .split("id=\"older\"")
        .next()
        .and_then(|head| head.rsplit("href=\"").next())
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let (_, html) = page(&app, &auditor_browser, &older).await;
    let second: Vec<i64> = row_values(&html, "seq")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(second.len(), 50, "{older}");
    assert_eq!(first.last().unwrap() - 1, second[0], "pages meet");

    // Export from the page: the same audited download as the API's.
    let csv = auditor_browser
        .client
        .get(app.url("/audit/export?format=csv&action=login.success"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("seq,at,actor,action,target,ip,outcome,reason"));
    assert!(csv.lines().skip(1).all(|l| l.contains(",login.success,")));
    let (_, json) = app
        .get(&format!(
            "/api/v1/audit?action=audit.export&actor=user:{}",
            auditor.id
        ))
        .await;
    assert_eq!(
        json["entries"].as_array().unwrap().len(),
        1,
        "export logged"
    );

    // Verify now: intact; then an entry is changed behind Veil's back, and the page, the alert
    // list and the admins' navigation all say so.
    let r = post_form(&app, &auditor_browser, "/audit/verify", &[]).await;
    assert_eq!(location(&r), "/audit#integrity");
    let (_, html) = page(&app, &auditor_browser, "/audit").await;
    assert!(
        html.contains("id=\"verification\" data-ok=\"true\""),
        "intact"
    );
    let raw = Raw::open(app.config.database_url.expose()).await;
    let third = audit.store().audit_range(3, 1).await.unwrap().remove(0);
    raw.exec("UPDATE audit_log SET actor = 'user:nobody' WHERE seq = 3")
        .await;
    post_form(&app, &auditor_browser, "/audit/verify", &[]).await;
    let (_, html) = page(&app, &auditor_browser, "/audit").await;
    assert!(
        html.contains("id=\"verification\" data-ok=\"false\" role=\"alert\""),
        "broken"
    );
    let admin_browser = app.sign_in(&admin).await;
    let (_, account) = page(&app, &admin_browser, "/account").await;
    assert!(
        account.contains("id=\"nav-alerts\""),
        "admins see open alerts"
    );
    let (_, alerts) = page(&app, &admin_browser, "/admin/alerts").await;
    let alert = app
        .app()
        .state
        .store
        .alerts(10)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.rule == "audit_log_broken")
        .expect("a broken log raises an alert");
    assert!(alerts.contains(&format!("data-alert=\"{}\"", alert.id)));
    let ack = format!("/admin/alerts/{}/acknowledge", alert.id);
    let r = post_form(&app, &auditor_browser, &ack, &[]).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "auditors do not acknowledge"
    );
    let r = post_form(&app, &admin_browser, &ack, &[]).await;
    assert_eq!(location(&r), "/admin/alerts");
    let (_, alerts) = page(&app, &admin_browser, "/admin/alerts").await;
    assert!(
        alerts.contains("Acknowledged by Test Person"),
        "who acknowledged it is shown"
    );
    assert_eq!(app.app().state.store.count_open_alerts().await.unwrap(), 0);
    let (_, account) = page(&app, &admin_browser, "/account").await;
    assert!(!account.contains("id=\"nav-alerts\""));
    let (_, json) = app.get("/api/v1/audit?action=alert.acknowledge").await;
    assert_eq!(json["entries"][0]["target"], format!("alert:{}", alert.id));
    raw.exec(&format!(
        "UPDATE audit_log SET actor = '{}' WHERE seq = 3",
        third.actor
    ))
    .await;
    post_form(&app, &auditor_browser, "/audit/verify", &[]).await;
    let (_, html) = page(&app, &auditor_browser, "/audit").await;
    assert!(
        html.contains("data-ok=\"true\""),
        "intact again once undone"
    );
}
