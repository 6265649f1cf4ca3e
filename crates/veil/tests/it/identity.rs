//! Accounts, the second factor, sessions and their limits, end to end over HTTP.

use reqwest::StatusCode;
use serde_json::json;
use veil::clock::Clock as _;
use veil::identity::Role;

use crate::helpers::{TestApp, csrf_of};

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let (_, rest) = text.split_once(start).unwrap();
    rest.split_once(end).unwrap().0
}

/// A new user follows the setup link, chooses a password, enrolls with a code computed by the
/// real `oathtool` from the enrolled secret, and reaches their account.
#[tokio::test]
async fn setup_link_enrollment_with_oathtool_and_first_sign_in() {
    let app = TestApp::spawn().await;
    app.clock.set_ms(veil::clock::SystemClock.now_ms());
    let created = app
        .app()
        .state
        .identity
        .create_user(
            None,
            "nadia@example.com",
            "Nadia <script>",
            Role::Agent,
            "de",
        )
        .await
        .unwrap();
    let link = format!("/setup/{}", created.setup_secret.expose_text());
    let browser = app.browser();
    let page = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Nadia &#60;script&#62;") || html.contains("Nadia &lt;script&gt;"),
        "names are escaped"
    );
    assert!(!html.contains("<script>"));
    // NIST rules: short and common passwords are refused, with a reason.
    for weak in ["short", "password1234"] {
        let r = browser
            .post(app.url(&link))
            .form(&[("password", weak)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
    }
    let password = "quiet harbour lanterns at dawn";
    let r = browser
        .post(app.url(&link))
        .form(&[("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/enroll");
    // The link works once.
    let again = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    // Without 2FA nothing but enrollment is open.
    let account = browser.get(app.url("/account")).send().await.unwrap();
    assert_eq!(location(&account), "/enroll");
    let me = browser.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    let enroll = browser
        .get(app.url("/enroll"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(enroll.contains("<svg"), "a QR code, inline");
    let secret = between(&enroll, "id=\"totp-secret\">", "<").to_owned();
    let uri = between(&enroll, "id=\"otpauth-uri\" class=\"wrap\">", "<")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        uri.starts_with("otpauth://totp/Veil:nadia%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")));
    let csrf = csrf_of(&enroll);
    let wrong = browser
        .post(app.url("/enroll"))
        .form(&[("csrf", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", &secret])
        .output()
        .expect("oathtool is installed (Debian package oathtool; .ci/run installs it)");
    assert!(out.status.success());
    let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let done = browser
        .post(app.url("/enroll"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let codes_page = done.text().await.unwrap();
    let codes: Vec<&str> = codes_page
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap())
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    let me: serde_json::Value = browser
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["principal"]["role"], "agent");
    assert_eq!(
        me["permissions"],
        json!(["conversation.read.assigned", "conversation.reply"])
    );

    // Signing in again: the enrollment code cannot be replayed; a recovery code works once.
    app.clock.advance_ms(31 * 60_000);
    let second = app.browser();
    let r = app
        .post_login(&second, "NADIA@example.com ", password)
        .await;
    assert_eq!(location(&r), "/login/2fa");
    let replay = app.post_code(&second, &code).await;
    assert_eq!(
        replay.status(),
        StatusCode::UNAUTHORIZED,
        "a code is good once"
    );
    let recovery = app.post_code(&second, &codes[0].to_uppercase()).await;
    assert_eq!(recovery.status(), StatusCode::OK);
    assert!(
        recovery.text().await.unwrap().contains("9 bleiben übrig"),
        "the user is warned, in their own language (German)"
    );
    let third = app.browser();
    app.post_login(&third, "nadia@example.com", password).await;
    let reused = app.post_code(&third, codes[0]).await;
    assert_eq!(
        reused.status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code is good once"
    );
    let log = app.app().state.store.access_log(10).await.unwrap();
    assert!(
        log.iter().any(|e| e.action == "recovery_code.used"),
        "and its use is recorded"
    );
}

#[tokio::test]
async fn wrong_passwords_are_throttled_then_stopped_without_telling_who_exists() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    let browser = app.browser();
    let wrong = app
        .post_login(&browser, &user.email, "not the password at all")
        .await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = app
        .post_login(&browser, "nobody@test.veil", "not the password at all")
        .await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.status(),
        wrong_status,
        "unknown users look like wrong passwords"
    );
    assert_eq!(
        unknown
            .text()
            .await
            .unwrap()
            .replace("nobody@test.veil", "E"),
        wrong_body.replace(&user.email, "E")
    );
    // Five failures are free, then each waits longer.
    for _ in 0..4 {
        app.post_login(&browser, &user.email, "still wrong password")
            .await;
    }
    let throttled = app.post_login(&browser, &user.email, &user.password).await;
    assert_eq!(
        throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let unknown_throttled = {
        for _ in 0..4 {
            app.post_login(&browser, "nobody@test.veil", "x").await;
        }
        app.post_login(&browser, "nobody@test.veil", "x").await
    };
    assert_eq!(
        unknown_throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "unknown accounts throttle alike"
    );
    app.clock.advance_ms(3_000);
    assert_eq!(
        app.post_login(&browser, &user.email, "wrong")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_login(&browser, &user.email, &user.password)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the wait doubled"
    );
    // Up to 100 consecutive failures, waiting out each delay; then a hard stop.
    let mut failures = 6;
    while failures < 100 {
        app.clock.advance_ms(901_000);
        assert_eq!(
            app.post_login(&browser, &user.email, "wrong")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        failures += 1;
    }
    app.clock.advance_ms(24 * 3_600_000);
    assert_eq!(
        app.post_login(&browser, &user.email, &user.password)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "stopped until an admin resets it"
    );
    app.app()
        .state
        .identity
        .unlock(None, &user.id)
        .await
        .unwrap();
    let ok = app.post_login(&browser, &user.email, &user.password).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn second_factor_guesses_and_races() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    app.clock.advance_ms(30_000);
    let (a, b) = (app.browser(), app.browser());
    app.post_login(&a, &user.email, &user.password).await;
    app.post_login(&b, &user.email, &user.password).await;
    let code = app.code(&user);
    let (ra, rb) = tokio::join!(app.post_code(&a, &code), app.post_code(&b, &code));
    let mut statuses = [ra.status(), rb.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::UNAUTHORIZED],
        "one of two racing uses wins"
    );
    // Three wrong codes per step, then wait (a second user, untouched by the race).
    let user = app.add_user(Role::Agent).await;
    let c = app.browser();
    app.clock.advance_ms(30_000);
    app.post_login(&c, &user.email, &user.password).await;
    for _ in 0..3 {
        assert_eq!(
            app.post_code(&c, "000000").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app.post_code(&c, &app.code(&user)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance_ms(30_000);
    let fine = app.post_code(&c, &app.code(&user)).await;
    assert_eq!(fine.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sessions_expire_and_end_on_revocation_disable_and_password_change() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Supervisor).await;
    let account = |b: &crate::helpers::Browser| {
        let client = b.client.clone();
        let url = app.url("/account");
        async move { client.get(url).send().await.unwrap() }
    };
    // Idle timeout: 30 minutes.
    let b = app.sign_in(&user).await;
    app.clock.advance_ms(29 * 60_000);
    assert_eq!(account(&b).await.status(), StatusCode::OK);
    app.clock.advance_ms(31 * 60_000);
    let r = account(&b).await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/login".to_owned())
    );
    // Absolute timeout: 12 hours, however active.
    let b = app.sign_in(&user).await;
    for _ in 0..=(12 * 60 / 20) {
        app.clock.advance_ms(20 * 60_000);
        let r = account(&b).await;
        if r.status() != StatusCode::OK {
            assert_eq!(location(&r), "/login");
            break;
        }
    }
    assert_eq!(
        account(&b).await.status(),
        StatusCode::SEE_OTHER,
        "ended by the 12-hour limit"
    );
    // The session list shows each session; "log out my other sessions" ends the rest.
    let one = app.sign_in(&user).await;
    let two = app.sign_in(&user).await;
    let page = account(&one).await.text().await.unwrap();
    assert_eq!(
        page.matches("<tr><td><time ").count(),
        2,
        "both sessions are listed"
    );
    let r = one
        .client
        .post(app.url("/account/sessions/others/revoke"))
        .form(&[("csrf", one.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(account(&two).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(account(&one).await.status(), StatusCode::OK);
    // Without the CSRF token, or from another site, a state change is refused.
    // A wrong token, a foreign origin, a cross-site fetch: each is refused.
    for (csrf, header) in [
        ("nope", None),
        (one.csrf.as_str(), Some(("origin", "https://evil.example"))),
        (one.csrf.as_str(), Some(("sec-fetch-site", "cross-site"))),
    ] {
        let mut request = one
            .client
            .post(app.url("/account/sessions/others/revoke"))
            .form(&[("csrf", csrf)]);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header:?}");
    }
    let r = app
        .browser()
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[
            ("email", user.email.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no login CSRF");
    // A password change ends the other sessions and renews this one.
    let other = app.sign_in(&user).await;
    let new_password = "brass compass under northern skies";
    app.clock.advance_ms(30_000);
    let r = one
        .client
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", one.csrf.as_str()),
            ("current", user.password.as_str()),
            ("code", app.code(&user).as_str()),
            ("new", new_password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(account(&other).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        account(&one).await.status(),
        StatusCode::OK,
        "the changer keeps a new session"
    );
    // An admin logs the user out; disabling does the same, and sign-in is refused after.
    let admin = app.add_user(Role::Admin).await;
    let adm = app.sign_in(&admin).await;
    let r = adm
        .client
        .post(app.url(&format!("/api/v1/users/{}/logout", user.id)))
        .header("x-csrf-token", &adm.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(account(&one).await.status(), StatusCode::SEE_OTHER);
    let r = adm
        .client
        .post(app.url(&format!("/api/v1/users/{}/disable", user.id)))
        .header("x-csrf-token", &adm.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.clock.advance_ms(30_000);
    let r = app
        .post_login(&app.browser(), &user.email, new_password)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sensitive_actions_need_a_recent_password_and_code() {
    let app = TestApp::spawn().await;
    let owner = app.add_user(Role::Owner).await;
    let b = app.sign_in(&owner).await;
    let create = |scopes: serde_json::Value| {
        let client = b.client.clone();
        let url = app.url("/api/v1/tokens");
        let csrf = b.csrf.clone();
        async move {
            client
                .post(url)
                .header("x-csrf-token", csrf)
                .json(&json!({"name": "crm", "scopes": scopes, "expires_in_days": 1}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = create(json!(["conversation.read.all"])).await;
    assert_eq!(r.status(), StatusCode::CREATED, "fresh sign-in counts");
    let token: serde_json::Value = r.json().await.unwrap();
    let secret = token["secret"].as_str().unwrap().to_owned();
    app.clock.advance_ms(6 * 60_000);
    let r = create(json!(["conversation.read.all"])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "reauth_required"
    );
    app.clock.advance_ms(30_000);
    let r = b
        .client
        .post(app.url("/account/reauth"))
        .form(&[
            ("csrf", b.csrf.as_str()),
            ("password", owner.password.as_str()),
            ("code", app.code(&owner).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Re-authentication renews the session id; the CSRF token follows it.
    let page = b
        .client
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = b
        .client
        .post(app.url("/api/v1/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "crm2", "scopes": ["conversation.read.all"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Tokens: scoped, listed without secrets, expiring, revocable.
    let list = b
        .client
        .get(app.url("/api/v1/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&secret), "secrets are shown once");
    let use_token = |secret: String| {
        let client = app.client.clone();
        let url = app.url("/api/v1/conversations");
        async move {
            client
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(use_token(secret.clone()).await, StatusCode::OK);
    let users = app
        .client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        users.status(),
        StatusCode::FORBIDDEN,
        "outside the token's scopes"
    );
    app.clock.advance_ms(25 * 3_600_000);
    assert_eq!(use_token(secret).await, StatusCode::UNAUTHORIZED, "expired");
    // A supervisor cannot mint a token with more than they have.
    let supervisor = app.add_user(Role::Supervisor).await;
    let s = app.sign_in(&supervisor).await;
    let r = s
        .client
        .post(app.url("/api/v1/tokens"))
        .header("x-csrf-token", &s.csrf)
        .json(&json!({"name": "x", "scopes": ["user.manage"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A token may only create users whose role grants nothing beyond the token's scopes.
    let (_, secret) = app
        .app()
        .state
        .identity
        .create_token(
            None,
            "provisioning",
            veil::identity::Permissions::of(&[veil::identity::Permission::UserManage]),
            None,
        )
        .await
        .unwrap();
    for role in ["admin", "supervisor", "agent"] {
        let r = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(secret.expose_text())
            .json(
                &json!({"email": format!("{role}-p@test.veil"), "display_name": "P", "role": role}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role}");
    }
}

#[tokio::test]
async fn tokens_invite_within_their_scopes_and_never_see_a_setup_link() {
    let (smtp_port, mut mails) = crate::helpers::smtp_sink().await;
    let app = TestApp::spawn_with(|config, _| {
        let a = &mut config.alerts;
        a.smtp_from = "veil@example.com".into();
        a.smtp_host = "127.0.0.1".into();
        a.smtp_port = smtp_port;
        a.smtp_security = veil::config::SmtpSecurity::None;
    })
    .await;
    let identity = &app.app().state.identity;
    let agent_scopes = Role::Agent.permissions();
    let with_manage = veil::identity::Permissions::parse_names(&format!(
        "{} user.manage",
        agent_scopes.to_names()
    ))
    .unwrap();
    let (_, secret) = identity
        .create_token(None, "hr", with_manage, None)
        .await
        .unwrap();
    let invite = |role: &'static str| {
        let (client, url, secret) = (
            app.client.clone(),
            app.url("/api/v1/users"),
            secret.expose_text().to_owned(),
        );
        async move {
            let r = client
                .post(url)
                .bearer_auth(secret)
                .json(&json!({"email": format!("{role}-t@test.veil"), "display_name": "T", "role": role}))
                .send()
                .await
                .unwrap();
            (
                r.status(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    // A supervisor can do more than the token: refused, nothing created.
    assert_eq!(invite("supervisor").await.0, StatusCode::FORBIDDEN);
    // An agent is within its scopes: created, the link mailed to the invitee, not returned.
    let (status, body) = invite("agent").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["setup_link"], serde_json::Value::Null, "{body}");
    let mail = tokio::time::timeout(std::time::Duration::from_secs(10), mails.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        mail.contains("agent-t@test.veil") && mail.contains("/setup/"),
        "{mail}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn network_allowlists_and_trusted_proxies() {
    let app = TestApp::spawn_with(|config, _| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.ip_allowlist.insert(
            "agent".into(),
            vec![
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
        );
    })
    .await;
    let agent = app.add_user(Role::Agent).await;
    let owner = app.add_user(Role::Owner).await;
    let login = |xff: Option<&'static str>, who: &crate::helpers::TestUser| {
        let client = app.browser();
        let url = app.url("/login");
        let form = [
            ("email", who.email.clone()),
            ("password", who.password.clone()),
        ];
        async move {
            let mut r = client.post(url).form(&form);
            if let Some(xff) = xff {
                r = r.header("x-forwarded-for", xff);
            }
            r.send().await.unwrap().status()
        }
    };
    assert_eq!(login(Some("10.1.2.3"), &agent).await, StatusCode::SEE_OTHER);
    assert_eq!(
        login(Some("2001:db8::7"), &agent).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        login(Some("203.0.113.5"), &agent).await,
        StatusCode::UNAUTHORIZED,
        "outside the company network"
    );
    assert_eq!(
        login(Some("10.9.9.9, 203.0.113.5"), &agent).await,
        StatusCode::UNAUTHORIZED,
        "a spoofed left part is ignored"
    );
    assert_eq!(
        login(Some("203.0.113.5"), &owner).await,
        StatusCode::SEE_OTHER,
        "owners have no allowlist here"
    );
    // The webhook answers to its signature, not to the allowlist.
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    assert_eq!(app.post_webhook(body).await, StatusCode::OK);
}

#[tokio::test]
async fn untrusted_peers_cannot_claim_an_address() {
    let app = TestApp::spawn_with(|config, _| {
        config
            .ip_allowlist
            .insert("agent".into(), vec!["10.0.0.0/8".parse().unwrap()]);
    })
    .await;
    let agent = app.add_user(Role::Agent).await;
    let r = app
        .browser()
        .post(app.url("/login"))
        .header("x-forwarded-for", "10.1.2.3")
        .form(&[
            ("email", agent.email.as_str()),
            ("password", agent.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "X-Forwarded-For from a non-proxy is not believed"
    );
}

#[tokio::test]
async fn a_login_flood_is_answered_429_not_queued() {
    let app = TestApp::spawn_with(|config, _| {
        config.auth.hash_concurrency = 1;
        config.auth.hash_queue = 1;
    })
    .await;
    let mut attempts = Vec::new();
    for i in 0..16 {
        let client = app.browser();
        let url = app.url("/login");
        attempts.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("email", format!("flood{i}@test.veil")),
                    ("password", "whatever it is".into()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS || *s == StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn security_headers_and_cookie_attributes() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    for path in ["/login", "/api/v1/conversations", "/healthz", "/account"] {
        let r = app.browser().get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline")
                && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS over plain http"
        );
    }
    let r = app
        .post_login(&app.browser(), &user.email, &user.password)
        .await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("veil_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let secret = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("veil_session=");
    assert!(secret.len() >= 43, "256 random bits");

    let tls =
        TestApp::spawn_with(|config, _| config.public_url = "https://inbox.example.com".into())
            .await;
    let user = tls.add_user(Role::Agent).await;
    let r = tls
        .post_login(&tls.browser(), &user.email, &user.password)
        .await;
    let h = r.headers();
    assert!(
        h["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-veil_session=") && cookie.contains("Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn recovery_codes_can_be_renewed_after_reauthentication() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    let b = app.sign_in(&user).await;
    let renew = |csrf: String| {
        let client = b.client.clone();
        let url = app.url("/account/recovery-codes");
        async move {
            client
                .post(url)
                .form(&[("csrf", csrf.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let r = renew(b.csrf.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a fresh sign-in counts as re-authenticated"
    );
    let page = r.text().await.unwrap();
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    app.clock.advance_ms(6 * 60_000);
    let r = renew(b.csrf.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "later, only after password and code"
    );
    // A new code signs in; the user is told how many remain.
    let c = app.browser();
    app.post_login(&c, &user.email, &user.password).await;
    let r = app.post_code(&c, &codes[3]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("9 remain"));
    let log = app.app().state.store.access_log(10).await.unwrap();
    assert!(log.iter().any(|e| e.action == "recovery_codes.regenerate"));
}

#[tokio::test]
async fn tokens_die_with_their_creators_permissions_and_ranks_bind_unlock_and_sessions() {
    let app = TestApp::spawn().await;
    let owner = app.add_user(Role::Owner).await;
    let admin = app.add_user(Role::Admin).await;
    let a = app.sign_in(&admin).await;
    let create = |scopes: serde_json::Value| {
        let (client, url, csrf) = (a.client.clone(), app.url("/api/v1/tokens"), a.csrf.clone());
        async move {
            let r = client
                .post(url)
                .header("x-csrf-token", csrf)
                .json(&json!({"name": "t", "scopes": scopes}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let r: serde_json::Value = serde_json::from_str(&body).unwrap();
            r["secret"].as_str().unwrap().to_owned()
        }
    };
    let wide = create(json!(["user.manage", "conversation.read.all"])).await;
    let narrow = create(json!(["conversation.reply"])).await;
    // An admin may not look at or unlock an owner.
    let r = a
        .client
        .get(app.url(&format!("/api/v1/users/{}/sessions", owner.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = a
        .client
        .post(app.url(&format!("/api/v1/users/{}/unlock", owner.id)))
        .header("x-csrf-token", &a.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The owner demotes the admin to agent: the token beyond an agent's permissions is revoked.
    let o = app.sign_in(&owner).await;
    let r = o
        .client
        .post(app.url(&format!("/api/v1/users/{}/role", admin.id)))
        .header("x-csrf-token", &o.csrf)
        .json(&json!({"role": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let status = |secret: String| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/me"));
        async move {
            client
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(wide.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(narrow.clone()).await, StatusCode::OK);
    // Disabled, the creator's last token goes too.
    let r = o
        .client
        .post(app.url(&format!("/api/v1/users/{}/disable", admin.id)))
        .header("x-csrf-token", &o.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status(narrow).await, StatusCode::UNAUTHORIZED);
    app.shutdown().await;
}
