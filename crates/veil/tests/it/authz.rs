//! The authorization matrix: every route of the router's own table, for anonymous callers, each
//! role (a signed-in browser) and a token of each single scope, compared with the documented
//! matrix in docs/permissions.md. Then the object-level rules the gate cannot see.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use veil::http::routes;
use veil::identity::{Permission, Permissions, Role};

use crate::helpers::{Browser, TestApp};

/// One row of the documented route table.
struct DocRow {
    method: String,
    path: String,
    needs: String,
    /// anonymous, then the roles in `Role::ALL` order: Some(allowed), None for the webhook.
    cells: Vec<Option<bool>>,
}

fn documented_routes() -> Vec<DocRow> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/permissions.md");
    let text = std::fs::read_to_string(path).unwrap();
    let (_, routes) = text.split_once("## Routes").unwrap();
    routes
        .lines()
        .filter(|l| l.starts_with("| GET") || l.starts_with("| POST") || l.starts_with("| DELETE"))
        .map(|line| {
            let cols: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            DocRow {
                method: cols[0].to_owned(),
                path: cols[1].trim_matches('`').to_owned(),
                needs: cols[2].to_owned(),
                cells: cols[3..]
                    .iter()
                    .map(|c| match *c {
                        "allow" => Some(true),
                        "deny" => Some(false),
                        _ => None,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What the document says a token holding only `scope` may do.
fn token_expected(needs: &str, scope: Permission) -> Option<bool> {
    if needs.starts_with("Meta signature") {
        return None;
    }
    // Browser pages ("signed in …") never open for tokens.
    if needs.starts_with("signed in") {
        return Some(false);
    }
    Some(
        needs.starts_with("public")
            || needs.starts_with("any permission")
            || needs.contains(&format!("`{scope}`")),
    )
}

enum Caller<'a> {
    Anonymous,
    Browser(&'a Browser),
    Token(&'a str),
}

async fn call(app: &TestApp, caller: &Caller<'_>, method: &str, path: &str) -> reqwest::Response {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let unsafe_method = method != Method::GET;
    let client = match caller {
        Caller::Browser(b) => b.client.clone(),
        _ => app.browser(),
    };
    let mut request = client.request(method, app.url(path));
    match caller {
        Caller::Browser(b) => request = request.header("x-csrf-token", &b.csrf),
        Caller::Token(t) => request = request.bearer_auth(t),
        Caller::Anonymous => {}
    }
    if unsafe_method {
        request = if path.starts_with("/api/") {
            request.json(&json!({}))
        } else {
            request.form(&[("x", "")])
        };
    }
    request.send().await.unwrap()
}

fn concrete(path: &str, conversation: &str, message: &str) -> String {
    let id = if path.starts_with("/api/v1/conversations/") {
        conversation
    } else if path.starts_with("/api/v1/messages/") {
        message
    } else {
        "00000000-0000-7000-8000-000000000000"
    };
    path.replace("{id}", id).replace("{token}", "not-a-link")
}

fn refused_by_gate(response: &reqwest::Response) -> bool {
    let refused = response.headers().contains_key("x-veil-gate");
    if refused {
        assert!(
            matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::SEE_OTHER
            ),
            "a refusal is 401, 403 or a redirect to sign in, not {}",
            response.status()
        );
    }
    refused
}

#[tokio::test]
async fn every_route_answers_every_caller_as_documented() {
    let app = TestApp::spawn().await;
    let rows = documented_routes();
    assert_eq!(
        rows.len(),
        routes::specs().len(),
        "every route in the router is in the document, and nothing else"
    );
    for spec in routes::specs() {
        assert!(
            rows.iter()
                .any(|r| r.method == spec.method.as_str() && r.path == spec.path),
            "{} {} is missing from docs/permissions.md",
            spec.method,
            spec.path
        );
    }
    let wamid = app
        .customer_writes("4915100000901", "Matrix Mia", "text", "hi")
        .await;
    let _ = wamid;
    let conversation = app.conversation_named("Matrix Mia").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = app.messages(&conversation).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut browsers = Vec::new();
    for role in Role::ALL {
        let user = app.add_user(role).await;
        browsers.push(app.sign_in(&user).await);
    }
    let mut tokens = Vec::new();
    for scope in Permission::ALL {
        let (_, secret) = app
            .app()
            .state
            .identity
            .create_token(None, scope.as_str(), Permissions::of(&[scope]), None)
            .await
            .unwrap();
        tokens.push((scope, secret.expose_text().to_owned()));
    }
    // Signing out ends the caller's session, so it goes last.
    let mut ordered: Vec<&DocRow> = rows.iter().filter(|r| r.path != "/logout").collect();
    ordered.extend(rows.iter().filter(|r| r.path == "/logout"));

    let mut mismatches = Vec::new();
    let mut checked = 0;
    for row in ordered {
        let path = concrete(&row.path, &conversation, &message);
        let mut webhook_statuses = Vec::new();
        let mut callers: Vec<(String, Caller<'_>, Option<bool>)> =
            vec![("anonymous".into(), Caller::Anonymous, row.cells[0])];
        for (i, role) in Role::ALL.iter().enumerate() {
            callers.push((
                role.as_str().into(),
                Caller::Browser(&browsers[i]),
                row.cells[i + 1],
            ));
        }
        for (scope, secret) in &tokens {
            callers.push((
                format!("token {scope}"),
                Caller::Token(secret),
                token_expected(&row.needs, *scope),
            ));
        }
        for (name, caller, expected) in &callers {
            let response = call(&app, caller, &row.method, &path).await;
            checked += 1;
            match expected {
                None => webhook_statuses.push(response.status()),
                Some(allowed) => {
                    let refused = refused_by_gate(&response);
                    if refused == *allowed {
                        mismatches.push(format!(
                            "{} {} as {name}: documented {}, got {}",
                            row.method,
                            row.path,
                            if *allowed { "allow" } else { "deny" },
                            response.status()
                        ));
                    }
                }
            }
        }
        webhook_statuses.dedup();
        assert!(
            webhook_statuses.len() <= 1,
            "the webhook answers every caller alike: {webhook_statuses:?}"
        );
    }
    assert!(checked > 500, "the matrix was walked ({checked} requests)");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

async fn api(
    app: &TestApp,
    browser: &Browser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = browser
        .client
        .request(method, app.url(path))
        .header("x-csrf-token", &browser.csrf);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn agents_see_only_their_own_and_their_teams_conversations() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000911", "Assigned Ada", "text", "hello")
        .await;
    app.customer_writes("4915100000912", "Other Otto", "text", "hello")
        .await;
    app.customer_writes("4915100000913", "Team Theo", "text", "hello")
        .await;
    let id = |name: &str| {
        let app = &app;
        let name = name.to_owned();
        async move {
            app.conversation_named(&name).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (ada, otto, theo) = (
        id("Assigned Ada").await,
        id("Other Otto").await,
        id("Team Theo").await,
    );
    let supervisor = app.add_user(Role::Supervisor).await;
    let admin = app.add_user(Role::Admin).await;
    let alice = app.add_user(Role::Agent).await;
    let bob = app.add_user(Role::Agent).await;
    let sup = app.sign_in(&supervisor).await;
    let adm = app.sign_in(&admin).await;
    let (status, team) = api(
        &app,
        &adm,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "Returns"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let team_id = team["team"]["id"].as_str().unwrap().to_owned();
    let (status, _) = api(
        &app,
        &adm,
        Method::POST,
        &format!("/api/v1/teams/{team_id}/members"),
        Some(json!({"user_id": alice.id})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (conversation, body) in [
        (&ada, json!({"assignee_id": alice.id})),
        (&otto, json!({"assignee_id": bob.id})),
        (&theo, json!({"team_id": team_id})),
    ] {
        let (status, _) = api(
            &app,
            &sup,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/assign"),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let alice_browser = app.sign_in(&alice).await;
    let (status, list) = api(
        &app,
        &alice_browser,
        Method::GET,
        "/api/v1/conversations",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut seen: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    let mut expected = vec![ada.as_str(), theo.as_str()];
    expected.sort_unstable();
    assert_eq!(seen, expected, "own and team conversations only");
    for c in list["conversations"].as_array().unwrap() {
        let masked = c["contact"]["masked_number"].as_str().unwrap();
        assert!(
            masked.contains('•') && !masked.contains("1000009"),
            "numbers are masked: {masked}"
        );
    }
    // Bob's conversation does not exist for Alice, whatever she tries.
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/conversations/{otto}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{otto}/messages"),
            Some(json!({"text": "hi"})),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{otto}/read"),
            None,
        ),
    ] {
        let (status, _) = api(&app, &alice_browser, method, &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let otto_message = app.messages(&otto).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = api(
        &app,
        &alice_browser,
        Method::GET,
        &format!("/api/v1/messages/{otto_message}/media"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api(
        &app,
        &alice_browser,
        Method::POST,
        &format!("/api/v1/conversations/{ada}/reveal-number"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "agents cannot reveal numbers"
    );
    let (status, sent) = api(
        &app,
        &alice_browser,
        Method::POST,
        &format!("/api/v1/conversations/{ada}/messages"),
        Some(json!({"text": "On it!"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");

    // Revealing is a deliberate, recorded act.
    let (status, revealed) = api(
        &app,
        &sup,
        Method::POST,
        &format!("/api/v1/conversations/{ada}/reveal-number"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revealed["number"], "+4915100000911");
    let (status, log) = api(&app, &adm, Method::GET, "/api/v1/access-log", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "contact.reveal_phone"
                && e["actor"] == format!("user:{}", supervisor.id)
                && e["target"] == format!("conversation:{ada}"))
    );

    // Ranks: an admin cannot touch an owner or make one.
    let owner = app.add_user(Role::Owner).await;
    let (status, _) = api(
        &app,
        &adm,
        Method::POST,
        &format!("/api/v1/users/{}/disable", owner.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api(
        &app,
        &adm,
        Method::POST,
        &format!("/api/v1/users/{}/role", bob.id),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api(
        &app,
        &adm,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "o2@test.veil", "display_name": "O", "role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, changed) = api(
        &app,
        &adm,
        Method::POST,
        &format!("/api/v1/users/{}/role", bob.id),
        Some(json!({"role": "supervisor"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["user"]["role"], "supervisor");
}
