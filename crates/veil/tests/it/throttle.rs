//! Throttles under attack: bursts of concurrent guesses, password changes, refused floods in the
//! audit log, and an outsider trying to keep a user out.

use reqwest::StatusCode;

use crate::helpers::{TestApp, post_login};
use veil::identity::Role;

/// Audit entries of `action` whose reason contains `reason`.
async fn entries(app: &TestApp, action: &str, reason: &str) -> Vec<veil::store::AuditRow> {
    app.app()
        .state
        .store
        .audit_range(0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action && e.reason.contains(reason))
        .collect()
}

/// A client that has passed the password step (its session waits for the second factor).
async fn half_signed_in(app: &TestApp, user: &crate::helpers::TestUser) -> reqwest::Client {
    let client = app.browser();
    let r = post_login(&client, &app.app().url, &user.email, &user.password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    client
}

#[tokio::test]
async fn a_burst_of_wrong_codes_checks_only_the_policys_number_then_stops() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    app.clock.advance_ms(30_000);
    let client = half_signed_in(&app, &user).await;
    let page = client
        .get(app.url("/login/2fa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_of(&page);
    // 300 wrong codes at once on the one half-signed-in session.
    let right = app.code(&user);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..300 {
        let (client, url, csrf) = (client.clone(), app.url("/login/2fa"), csrf.clone());
        burst.spawn(async move {
            client
                .post(url)
                .form(&[("csrf", csrf.as_str()), ("code", wrong)])
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = burst.join_next().await {
        *statuses.entry(status.unwrap().as_u16()).or_insert(0) += 1;
    }
    let checked = entries(&app, "login.failed", "second factor").await.len();
    assert!(checked <= 3, "{checked} codes were checked: {statuses:?}");
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 297,
        "{statuses:?}"
    );
    // The refusals cost the log a few entries, not 297.
    let refusals = entries(&app, "login.locked", "second factor").await;
    assert!(
        (1..=8).contains(&refusals.len()),
        "{} refusal entries",
        refusals.len()
    );
    // The right code is refused too until the wait has passed…
    let r = client
        .post(app.url("/login/2fa"))
        .form(&[("csrf", csrf.as_str()), ("code", right.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // …or an admin unlocks the account.
    let admin = app.add_user(Role::Admin).await;
    let (status, _) = app
        .post_json(
            &format!("/api/v1/users/{}/unlock", user.id),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    drop(admin);
    let r = client
        .post(app.url("/login/2fa"))
        .form(&[("csrf", csrf.as_str()), ("code", right.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "signed in after the unlock"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_checks_only_the_free_attempts() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let (client, base, email) = (app.browser(), app.app().url.clone(), user.email.clone());
        burst.spawn(async move {
            post_login(&client, &base, &email, "not the password at all")
                .await
                .status()
        });
    }
    while burst.join_next().await.is_some() {}
    let checked = entries(&app, "login.failed", "password").await.len();
    assert!(checked <= 5, "{checked} passwords were checked");
    app.shutdown().await;
}

#[tokio::test]
async fn a_password_change_is_throttled_needs_the_code_is_recorded_and_is_no_reauthentication() {
    let app = TestApp::spawn().await;
    let owner = app.add_user(Role::Owner).await;
    let b = app.sign_in(&owner).await;
    let change = |current: String, code: String| {
        let (client, url, csrf) = (
            b.client.clone(),
            app.url("/account/password"),
            b.csrf.clone(),
        );
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", current.as_str()),
                    ("code", code.as_str()),
                    ("new", "a long and fresh passphrase for veil"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Without the right code the right password changes nothing.
    app.clock.advance_ms(30_000);
    assert_ne!(
        change(owner.password.clone(), "000000".into()).await,
        StatusCode::SEE_OTHER
    );
    // Guessing the old password is throttled like a sign-in (5 free, then waits).
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(change("wrong guess".into(), "000000".into()).await);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.clock.advance_ms(20 * 60_000);
    let code = app.code(&owner);
    assert_eq!(
        change(owner.password.clone(), code).await,
        StatusCode::SEE_OTHER
    );
    let changes = entries(&app, "user.password_change", "").await;
    let done: Vec<_> = changes.iter().filter(|e| e.outcome == "ok").collect();
    assert_eq!(done.len(), 1, "{changes:?}");
    assert!(changes.len() > 1, "refused changes are recorded too");
    // Twenty minutes after sign-in, the change did not make the session fresh: a sensitive action
    // still asks for re-authentication.
    let page = b
        .client
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_of(&page);
    let r = b
        .client
        .post(app.url("/api/v1/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"name": "x", "scopes": ["conversation.read.all"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "reauth_required"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn housekeeping_sweeps_counters_of_unknown_emails_and_expired_sessions() {
    let app = TestApp::spawn().await;
    let user = app.add_user(Role::Agent).await;
    let state = &app.app().state;
    let _signed_in = app.sign_in(&user).await;
    for email in [
        "nobody-1@test.veil",
        "nobody-2@test.veil",
        user.email.as_str(),
    ] {
        let r = post_login(&app.browser(), &app.app().url, email, "wrong password here").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let swept = veil::app::housekeeping_once(state).await.unwrap();
    assert_eq!(
        (swept.throttles, swept.sessions),
        (0, 0),
        "nothing is old yet"
    );
    app.clock.advance_ms(25 * 3_600_000);
    let swept = veil::app::housekeeping_once(state).await.unwrap();
    // Two unknown e-mails and the client address; the real account's counter stays.
    assert_eq!(swept.throttles, 3, "{swept:?}");
    assert!(swept.sessions >= 1, "{swept:?}");
    let left = state
        .store
        .throttle_counters(&[format!(
            "acct:{}",
            hex::encode(state.inbox.keys.blind("login-email", &user.email))
        )])
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "the account's counter is kept");
    app.shutdown().await;
}

#[tokio::test]
async fn strangers_guessing_a_password_do_not_keep_the_user_out_of_their_own_browser() {
    let app = TestApp::spawn().await;
    let owner = app.add_user(Role::Owner).await;
    // The owner's browser has signed in before: it holds a device cookie.
    let own = app.sign_in(&owner).await;
    let base = app.app().url.clone();
    // A stranger guesses until the account is throttled…
    for _ in 0..10 {
        post_login(&app.browser(), &base, &owner.email, "a guess of a stranger").await;
    }
    let stranger = post_login(&app.browser(), &base, &owner.email, &owner.password).await;
    assert_eq!(
        stranger.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a new browser is throttled, even with the right password"
    );
    // …yet the owner's own browser signs in at once.
    let r = post_login(&own.client, &base, &owner.email, &owner.password).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the owner's browser is not locked out"
    );
    // A forged or someone else's device cookie is worth nothing.
    let fake = format!(
        "{}.{}.{}",
        owner.id,
        veil::clock::Clock::now_ms(app.clock.as_ref()),
        "00".repeat(16)
    );
    let forged_client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = forged_client
        .post(app.url("/login"))
        .header("cookie", format!("veil_device={fake}"))
        .header("origin", app.app().url.as_str())
        .form(&[
            ("email", owner.email.as_str()),
            ("password", owner.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a forged device cookie"
    );
    // The hard stop holds for everyone: after 100 failures the owner's browser is refused too.
    for _ in 0..100 {
        app.clock.advance_ms(16 * 60_000);
        post_login(&app.browser(), &base, &owner.email, "a guess of a stranger").await;
    }
    app.clock.advance_ms(16 * 60_000);
    let r = post_login(&own.client, &base, &owner.email, &owner.password).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "hard stop");
    app.app()
        .state
        .identity
        .unlock(None, &owner.id)
        .await
        .unwrap();
    let r = post_login(&own.client, &base, &owner.email, &owner.password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "after the unlock");
    app.shutdown().await;
}
