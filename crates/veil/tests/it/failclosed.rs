//! Fail-closed audit, driven by the route table: with the audit store refusing every append,
//! every state-changing route answers an error and changes nothing (a dump of every table is
//! compared before and after), and reads of customer data return nothing. Each request is then
//! repeated with the audit store back, and must succeed (and change something, for changes), so
//! a request that fails for another reason proves nothing and fails the test.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Column as _, Row as _};

use crate::helpers::{Browser, TestApp, csrf_of};
use veil::identity::Role;

/// Security state a refused request may still write, each for a reason: attempt counters and a
/// used code's step (a guess counts even when it cannot be recorded), and the touch times of
/// sessions and tokens.
const NOT_COMPARED: [(&str, &str); 5] = [
    ("login_throttle", "*"),
    ("users", "totp_last_step"),
    ("sessions", "last_seen_at"),
    ("api_tokens", "last_used_at"),
    ("_sqlx_migrations", "*"),
];
/// The audit log's own tables: they grow with every recorded action.
const AUDIT_TABLES: [&str; 5] = [
    "audit_log",
    "audit_nodes",
    "audit_head",
    "audit_keys",
    "audit_checkpoints",
];

type Dump = BTreeMap<String, Vec<String>>;

/// Stands for a second-factor code computed at the moment the request is sent (a code is good
/// once, and the refused request may have used it up).
const CODE: &str = "{code}";

fn cell(row: &dyn RowCell, i: usize) -> String {
    row.cell(i)
}

trait RowCell {
    fn cell(&self, i: usize) -> String;
}

macro_rules! row_cell {
    ($row:ty) => {
        impl RowCell for $row {
            fn cell(&self, i: usize) -> String {
                if let Ok(v) = self.try_get::<Option<i64>, _>(i) {
                    return format!("{v:?}");
                }
                if let Ok(v) = self.try_get::<Option<i32>, _>(i) {
                    return format!("{v:?}");
                }
                if let Ok(v) = self.try_get::<Option<String>, _>(i) {
                    return format!("{v:?}");
                }
                if let Ok(v) = self.try_get::<Option<Vec<u8>>, _>(i) {
                    return v.map_or("None".into(), hex::encode);
                }
                if let Ok(v) = self.try_get::<Option<bool>, _>(i) {
                    return format!("{v:?}");
                }
                "?".into()
            }
        }
    };
}
row_cell!(sqlx::sqlite::SqliteRow);
row_cell!(sqlx::postgres::PgRow);

fn compared(table: &str, column: &str) -> bool {
    !NOT_COMPARED
        .iter()
        .any(|(t, c)| *t == table && (*c == "*" || *c == column))
}

/// Every row of every table (but the audit tables when `with_audit` is false), as text.
async fn dump(url: &str, with_audit: bool) -> Dump {
    let mut out = Dump::new();
    let keep = |t: &str| compared(t, "") && (with_audit || !AUDIT_TABLES.contains(&t));
    // One body for both drivers: list the tables, then every row of each as text.
    macro_rules! dump_from {
        ($pool:ty, $tables:expr) => {{
            let pool = <$pool>::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar($tables).fetch_all(&pool).await.unwrap();
            for table in tables.into_iter().filter(|t| keep(t)) {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                let mut lines: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        (0..r.columns().len())
                            .filter(|i| compared(&table, r.columns()[*i].name()))
                            .map(|i| cell(r, i))
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect();
                lines.sort();
                out.insert(table, lines);
            }
            pool.close().await;
        }};
    }
    if url.starts_with("postgres") {
        dump_from!(
            sqlx::PgPool,
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'"
        );
    } else {
        dump_from!(
            sqlx::SqlitePool,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        );
    }
    out
}

/// Turns the audit store off (every append refused by the database) or on again.
async fn audit_store(url: &str, up: bool) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let statements: &[&str] = if up {
            &["DROP TRIGGER audit_down ON audit_log"]
        } else {
            &[
                "CREATE OR REPLACE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit store down'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down()",
            ]
        };
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(*s))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let s = if up {
            "DROP TRIGGER audit_down"
        } else {
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit store down'); END"
        };
        sqlx::query(s).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

enum Body {
    Empty,
    Form(Vec<(&'static str, String)>),
    Json(Value),
    File,
}

/// One request of a route, as a signed-in owner (or another client when given).
struct Case {
    method: &'static str,
    route: &'static str,
    path: String,
    body: Body,
    /// Whether the request changes something besides the audit log (a read does not).
    changes: bool,
    client: Option<reqwest::Client>,
}

fn case(method: &'static str, route: &'static str, path: impl Into<String>, body: Body) -> Case {
    Case {
        method,
        route,
        path: path.into(),
        body,
        changes: true,
        client: None,
    }
}

/// The CSRF token of `client`'s session.
async fn csrf(app: &TestApp, client: &reqwest::Client, page: &str) -> String {
    let html = client
        .get(app.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    if html.contains("name=\"csrf\"") {
        csrf_of(&html)
    } else {
        String::new()
    }
}

async fn send(app: &TestApp, owner: &Browser, c: &Case, code: &str) -> (StatusCode, String) {
    let client = c.client.as_ref().unwrap_or(&owner.client);
    let page = if c.path.starts_with("/login/2fa") {
        "/login/2fa"
    } else if c.path.starts_with("/enroll") {
        "/enroll"
    } else {
        "/account"
    };
    let token = if c.path.starts_with("/login") && !c.path.starts_with("/login/2fa")
        || c.path.starts_with("/setup/")
    {
        String::new()
    } else {
        csrf(app, client, page).await
    };
    let url = app.url(&c.path);
    let mut request = match c.method {
        "DELETE" => client.delete(url),
        _ => client.post(url),
    }
    .header("origin", app.app().url.as_str())
    .header("x-csrf-token", &token);
    request = match &c.body {
        Body::Empty => request.form(&[("csrf", token.as_str())]),
        Body::Form(fields) => {
            let mut all: Vec<(&str, String)> = vec![("csrf", token.clone())];
            all.extend(fields.iter().map(|(k, v)| {
                (
                    *k,
                    if v == CODE {
                        code.to_owned()
                    } else {
                        v.clone()
                    },
                )
            }));
            request.form(&all)
        }
        Body::Json(v) => request.json(v),
        Body::File => request.multipart(
            reqwest::multipart::Form::new()
                .text("caption", "a caption")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\nfake".to_vec())
                        .file_name("a.png")
                        .mime_str("image/png")
                        .unwrap(),
                ),
        ),
    };
    let r = request.send().await.unwrap();
    (r.status(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn with_the_audit_store_down_no_route_changes_anything_or_shows_customer_data() {
    let app = TestApp::spawn().await;
    let url = app.config.database_url.expose().to_owned();
    let state = &app.app().state;
    // What the requests act on.
    app.customer_writes("4915100000901", "Paula Secret", "text", "my private words")
        .await;
    let conversation = app.conversation_named("Paula Secret").await;
    let cid = conversation["id"].as_str().unwrap().to_owned();
    let owner = app.add_user(Role::Owner).await;
    let agent = app.add_user(Role::Agent).await;
    let o = app.sign_in(&owner).await;
    let other_session = app.sign_in(&owner).await;
    drop(other_session);
    let my_sessions = state.store.sessions_of(&owner.id).await.unwrap();
    let session_id = my_sessions[0].id.clone();
    let team = state
        .identity
        .create_team(&state_principal(&app).await, "Support")
        .await
        .unwrap();
    let channel = state.store.default_channel().await.unwrap().unwrap();
    state
        .desk
        .create_canned_reply("hello", "Hello {name}")
        .await
        .unwrap();
    let canned = state.store.canned_replies().await.unwrap()[0].id.clone();
    let label = state.desk.create_label("vip").await.unwrap().id;
    state
        .store
        .insert_alert(&veil::store::AlertRow {
            id: "rule-1".into(),
            at: 0,
            rule: "rule".into(),
            actor: "user:x".into(),
            detail: String::new(),
            seq: 1,
            email_state: "none".into(),
            webhook_state: "none".into(),
            attempts: 0,
            next_attempt_at: 0,
            acknowledged_by: None,
            acknowledged_at: None,
        })
        .await
        .unwrap();
    let later = veil::clock::Clock::now_ms(app.clock.as_ref()) + 3_600_000;
    let schedule = |n: u32| {
        let (client, url, csrf) = (
            o.client.clone(),
            app.url(&format!("/api/v1/conversations/{cid}/messages")),
            o.csrf.clone(),
        );
        async move {
            let r: Value = client
                .post(url)
                .header("x-csrf-token", csrf)
                .json(&json!({"text": format!("later {n}"), "send_at": later}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["id"].as_str().unwrap().to_owned()
        }
    };
    let (scheduled_page, scheduled_api) = (schedule(1).await, schedule(2).await);
    let (_, token) = state
        .identity
        .create_token(
            None,
            "t",
            veil::identity::Permissions::of(&[veil::identity::Permission::ConversationReply]),
            None,
        )
        .await
        .unwrap();
    let token_id = state
        .store
        .list_api_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "t")
        .unwrap()
        .id;
    drop(token);
    // Clients in the middle of signing in.
    app.clock.advance_ms(30_000);
    let half = app.browser();
    crate::helpers::post_login(&half, &app.app().url, &agent.email, &agent.password).await;
    let created = state
        .identity
        .create_user(None, "newcomer@test.veil", "New", Role::Agent, "en")
        .await
        .unwrap();
    let setup_path = format!("/setup/{}", created.setup_secret.expose_text());
    let enrolling = app.browser();
    let r = enrolling
        .post(app.url(&format!(
                "/setup/{}",
                state
                    .identity
                    .create_user(None, "enrolling@test.veil", "E", Role::Agent, "en")
                    .await
                    .unwrap()
                    .setup_secret
                    .expose_text()
            )))
        .form(&[("password", "a long enough new passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let enroll_page = enrolling
        .get(app.url("/enroll"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = enroll_page
        .split("id=\"totp-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    let totp = veil::identity::totp::TotpSecret::from_bytes(
        totp_rs::Secret::try_from_base32(&secret).unwrap().to_vec(),
    );
    // Users whose sessions the sign-out cases end.
    let (leaver, watched, watched2) = (
        app.add_user(Role::Agent).await,
        app.add_user(Role::Agent).await,
        app.add_user(Role::Agent).await,
    );
    let logout_client = app.sign_in(&leaver).await.client;
    app.sign_in(&watched).await;
    app.sign_in(&watched2).await;
    let (w, w2) = (watched.id.clone(), watched2.id.clone());

    let u = &agent.id;
    let cases = vec![
        case(
            "POST",
            "/api/v1/conversations/{id}/read",
            format!("/api/v1/conversations/{cid}/read"),
            Body::Empty,
        ),
        Case {
            client: Some(app.browser()),
            ..case(
                "POST",
                "/login",
                "/login",
                Body::Form(vec![
                    ("email", owner.email.clone()),
                    ("password", owner.password.clone()),
                ]),
            )
        },
        Case {
            client: Some(app.browser()),
            ..case(
                "POST",
                "/setup/{token}",
                setup_path.clone(),
                Body::Form(vec![("password", "a long enough new passphrase".into())]),
            )
        },
        Case {
            client: Some(half.clone()),
            ..case(
                "POST",
                "/login/2fa",
                "/login/2fa",
                Body::Form(vec![("code", CODE.into())]),
            )
        },
        Case {
            client: Some(enrolling.clone()),
            ..case(
                "POST",
                "/enroll",
                "/enroll",
                Body::Form(vec![("code", CODE.into())]),
            )
        },
        case(
            "POST",
            "/account/reauth",
            "/account/reauth",
            Body::Form(vec![
                ("password", owner.password.clone()),
                ("code", CODE.into()),
            ]),
        ),
        case(
            "POST",
            "/account/recovery-codes",
            "/account/recovery-codes",
            Body::Empty,
        ),
        case(
            "POST",
            "/account/sessions/{id}/revoke",
            format!("/account/sessions/{session_id}/revoke"),
            Body::Empty,
        ),
        case(
            "POST",
            "/account/sessions/others/revoke",
            "/account/sessions/others/revoke",
            Body::Empty,
        ),
        case(
            "POST",
            "/account/language",
            "/account/language",
            Body::Form(vec![("language", "de".into())]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/reply",
            format!("/inbox/c/{cid}/reply"),
            Body::Form(vec![("text", "a reply".into())]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/template",
            format!("/inbox/c/{cid}/template"),
            Body::Form(vec![
                ("template", "hello_world:en_US".into()),
                ("params", String::new()),
            ]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/attach",
            format!("/inbox/c/{cid}/attach"),
            Body::File,
        ),
        case(
            "POST",
            "/inbox/c/{id}/cancel/{message_id}",
            format!("/inbox/c/{cid}/cancel/{scheduled_page}"),
            Body::Empty,
        ),
        case(
            "POST",
            "/inbox/c/{id}/note",
            format!("/inbox/c/{cid}/note"),
            Body::Form(vec![("body", "a note".into())]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/status",
            format!("/inbox/c/{cid}/status"),
            Body::Form(vec![("status", "resolved".into())]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/assign",
            format!("/inbox/c/{cid}/assign"),
            Body::Form(vec![
                ("assignee", agent.id.clone()),
                ("team", String::new()),
            ]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/labels",
            format!("/inbox/c/{cid}/labels"),
            Body::Form(vec![("label", label.clone())]),
        ),
        case(
            "POST",
            "/inbox/c/{id}/labels/new",
            format!("/inbox/c/{cid}/labels/new"),
            Body::Form(vec![("name", "urgent".into())]),
        ),
        Case {
            changes: false,
            ..case(
                "POST",
                "/inbox/c/{id}/reveal",
                format!("/inbox/c/{cid}/reveal"),
                Body::Empty,
            )
        },
        case(
            "POST",
            "/admin/users",
            "/admin/users",
            Body::Form(vec![
                ("email", "invited@test.veil".into()),
                ("display_name", "Inv".into()),
                ("role", "agent".into()),
                ("language", String::new()),
            ]),
        ),
        case(
            "POST",
            "/admin/users/{id}/role",
            format!("/admin/users/{u}/role"),
            Body::Form(vec![("role", "supervisor".into())]),
        ),
        case(
            "POST",
            "/admin/users/{id}/reset-2fa",
            format!("/admin/users/{u}/reset-2fa"),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/users/{id}/disable",
            format!("/admin/users/{u}/disable"),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/users/{id}/enable",
            format!("/admin/users/{u}/enable"),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/teams",
            "/admin/teams",
            Body::Form(vec![("name", "Sales".into())]),
        ),
        case(
            "POST",
            "/admin/teams/{id}/members",
            format!("/admin/teams/{}/members", team.id),
            Body::Form(vec![("user_id", agent.id.clone())]),
        ),
        case(
            "POST",
            "/admin/teams/{id}/members/{user_id}/remove",
            format!("/admin/teams/{}/members/{u}/remove", team.id),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/teams/{id}/routing",
            format!("/admin/teams/{}/routing", team.id),
            Body::Form(vec![("auto_assign", "on".into()), ("capacity", "7".into())]),
        ),
        case(
            "POST",
            "/admin/channels/{id}",
            format!("/admin/channels/{}", channel.id),
            Body::Form(vec![("name", "Main line".into()), ("team", String::new())]),
        ),
        case(
            "POST",
            "/admin/canned",
            "/admin/canned",
            Body::Form(vec![("shortcut", "bye".into()), ("body", "Bye".into())]),
        ),
        case(
            "POST",
            "/admin/canned/{id}/delete",
            format!("/admin/canned/{canned}/delete"),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/labels",
            "/admin/labels",
            Body::Form(vec![("name", "billing".into())]),
        ),
        case(
            "POST",
            "/admin/labels/{id}/delete",
            format!("/admin/labels/{label}/delete"),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/policies",
            "/admin/policies",
            Body::Form(vec![
                ("session_idle_minutes", "25".into()),
                ("session_absolute_hours", "12".into()),
                ("reauth_minutes", "5".into()),
            ]),
        ),
        case(
            "POST",
            "/admin/guard",
            "/admin/guard",
            Body::Form(vec![("in_iban", "mask".into())]),
        ),
        case(
            "POST",
            "/admin/alerts/{id}/acknowledge",
            "/admin/alerts/rule-1/acknowledge",
            Body::Empty,
        ),
        Case {
            changes: false,
            ..case("POST", "/audit/verify", "/audit/verify", Body::Empty)
        },
        case(
            "POST",
            "/api/v1/conversations/{id}/messages",
            format!("/api/v1/conversations/{cid}/messages"),
            Body::Json(json!({"text": "hello"})),
        ),
        case(
            "POST",
            "/api/v1/conversations/{id}/messages/{message_id}/cancel",
            format!("/api/v1/conversations/{cid}/messages/{scheduled_api}/cancel"),
            Body::Empty,
        ),
        case(
            "POST",
            "/api/v1/conversations/{id}/assign",
            format!("/api/v1/conversations/{cid}/assign"),
            Body::Json(json!({"assignee_id": null, "team_id": team.id})),
        ),
        Case {
            changes: false,
            ..case(
                "POST",
                "/api/v1/conversations/{id}/reveal-number",
                format!("/api/v1/conversations/{cid}/reveal-number"),
                Body::Empty,
            )
        },
        case(
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            Body::Json(
                json!({"email": "api-invited@test.veil", "display_name": "A", "role": "agent"}),
            ),
        ),
        case(
            "POST",
            "/api/v1/users/{id}/role",
            format!("/api/v1/users/{u}/role"),
            Body::Json(json!({"role": "agent"})),
        ),
        case(
            "POST",
            "/api/v1/users/{id}/reset-2fa",
            format!("/api/v1/users/{u}/reset-2fa"),
            Body::Empty,
        ),
        case(
            "POST",
            "/api/v1/users/{id}/disable",
            format!("/api/v1/users/{u}/disable"),
            Body::Empty,
        ),
        case(
            "POST",
            "/api/v1/users/{id}/enable",
            format!("/api/v1/users/{u}/enable"),
            Body::Empty,
        ),
        // Unlock clears only attempt counters, which the comparison leaves out; checked below.
        Case {
            changes: false,
            ..case(
                "POST",
                "/api/v1/users/{id}/unlock",
                format!("/api/v1/users/{u}/unlock"),
                Body::Empty,
            )
        },
        case(
            "POST",
            "/api/v1/teams",
            "/api/v1/teams",
            Body::Json(json!({"name": "Billing"})),
        ),
        case(
            "POST",
            "/api/v1/teams/{id}/members",
            format!("/api/v1/teams/{}/members", team.id),
            Body::Json(json!({"user_id": agent.id})),
        ),
        case(
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens",
            Body::Json(json!({"name": "crm", "scopes": ["conversation.reply"]})),
        ),
        case(
            "DELETE",
            "/api/v1/tokens/{id}",
            format!("/api/v1/tokens/{token_id}"),
            Body::Empty,
        ),
        case(
            "POST",
            "/admin/users/{id}/logout",
            format!("/admin/users/{w}/logout"),
            Body::Empty,
        ),
        case(
            "POST",
            "/api/v1/users/{id}/logout",
            format!("/api/v1/users/{w2}/logout"),
            Body::Empty,
        ),
        Case {
            client: Some(logout_client),
            ..case("POST", "/logout", "/logout", Body::Empty)
        },
        case(
            "POST",
            "/account/password",
            "/account/password",
            Body::Form(vec![
                ("current", owner.password.clone()),
                ("code", CODE.into()),
                ("new", "another long passphrase for the owner".into()),
            ]),
        ),
    ];
    // Every state-changing route of the table has a case (the webhook is a customer's message,
    // not an action of a Veil user, and is not recorded).
    let routes: Vec<(String, &str)> = veil::http::routes::specs()
        .iter()
        .map(|s| (s.method.as_str().to_owned(), s.path))
        .collect();
    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| m != "GET" && *p != "/webhooks/whatsapp")
        .filter(|(m, p)| !cases.iter().any(|c| c.method == *m && c.route == *p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "routes without a case: {missing:?}");
    let mut failures = Vec::new();
    for c in &cases {
        let code = |app: &TestApp| {
            let needs_code = [
                "/login/2fa",
                "/enroll",
                "/account/reauth",
                "/account/password",
            ];
            if !needs_code.contains(&c.route) {
                return String::new();
            }
            app.clock.advance_ms(30_000);
            let now_s = veil::clock::Clock::now_ms(app.clock.as_ref()) / 1000;
            match c.route {
                "/login/2fa" => app.code(&agent),
                "/enroll" => totp.code_at(now_s).unwrap(),
                _ => app.code(&owner),
            }
        };
        let first = code(&app);
        let before = dump(&url, true).await;
        audit_store(&url, false).await;
        let (down, body) = send(&app, &o, c, &first).await;
        audit_store(&url, true).await;
        let after = dump(&url, true).await;
        if !down.is_server_error() {
            failures.push(format!(
                "{} {}: answered {down} with the audit store down",
                c.method, c.route
            ));
        }
        if body.contains("Paula") || body.contains("private words") {
            failures.push(format!(
                "{} {}: showed customer data with the audit store down",
                c.method, c.route
            ));
        }
        for (table, rows) in &before {
            if after.get(table) != Some(rows) {
                failures.push(format!(
                    "{} {}: changed {table} with the audit store down",
                    c.method, c.route
                ));
            }
        }
        // The same request with the audit store up works, and changes something.
        let plain = dump(&url, false).await;
        let second = code(&app);
        let (up, body) = send(&app, &o, c, &second).await;
        if !(up.is_success() || up.is_redirection()) {
            failures.push(format!(
                "{} {}: the case itself fails ({up}): {}",
                c.method,
                c.route,
                body.split("class=\"error")
                    .nth(1)
                    .unwrap_or(&body)
                    .chars()
                    .take(400)
                    .collect::<String>()
            ));
        }
        if c.changes && dump(&url, false).await == plain {
            failures.push(format!(
                "{} {}: the case changes nothing",
                c.method, c.route
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A refused unlock leaves the attempt counters as they were.
    for _ in 0..3 {
        crate::helpers::post_login(&app.browser(), &app.app().url, &agent.email, "wrong guess")
            .await;
    }
    let account = format!(
        "acct:{}",
        hex::encode(state.inbox.keys.blind("login-email", &agent.email))
    );
    let counters = || {
        state
            .store
            .throttle_counters(std::slice::from_ref(&account))
    };
    let before = counters().await.unwrap();
    assert_eq!(before.len(), 1);
    let token = csrf(&app, &o.client, "/account").await;
    audit_store(&url, false).await;
    let r = o
        .client
        .post(app.url(&format!("/api/v1/users/{}/unlock", agent.id)))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    audit_store(&url, true).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(
        counters().await.unwrap(),
        before,
        "a refused unlock unlocks nothing"
    );
    // Reads of customer data with the audit store down: nothing is shown.
    let o2 = &o;
    audit_store(&url, false).await;
    for path in [
        "/api/v1/conversations".to_owned(),
        format!("/api/v1/conversations/{cid}/messages"),
        format!("/inbox/c/{cid}"),
        "/inbox".to_owned(),
    ] {
        let r = o2.client.get(app.url(&path)).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(status.is_server_error(), "{path}: {status}");
        assert!(
            !body.contains("Paula") && !body.contains("private words"),
            "{path}"
        );
    }
    audit_store(&url, true).await;
    // And the log is intact.
    let report = state.audit.verify(None).await.unwrap();
    assert!(report.ok(), "{report:?}");
    app.shutdown().await;
}

/// The owner as a principal, for domain calls in the set-up.
async fn state_principal(app: &TestApp) -> veil::identity::Principal {
    let (_, secret) = app
        .app()
        .state
        .identity
        .create_token(
            None,
            "setup",
            veil::identity::Permissions::of(&veil::identity::Permission::ALL),
            None,
        )
        .await
        .unwrap();
    app.app()
        .state
        .identity
        .principal_for_token(
            secret.expose_text(),
            &veil::identity::Client {
                ip: "127.0.0.1".parse().unwrap(),
                user_agent: String::new(),
            },
        )
        .await
        .unwrap()
}
