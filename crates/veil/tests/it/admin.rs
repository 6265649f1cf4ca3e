//! The admin pages and auto-assignment, through the running app: forms posted by signed-in
//! browsers, the assigner run as the background worker runs it.

use reqwest::StatusCode;

use crate::helpers::{TestApp, csrf_of, location, page, post_form};
use veil::identity::Role;
use veil::store::TeamRow;

async fn assignees(app: &TestApp) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = app
        .conversations()
        .await
        .into_iter()
        .map(|c| {
            (
                c["contact"]["display_name"].as_str().unwrap().to_owned(),
                c["assignee_id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn auto_assignment_is_round_robin_among_online_members_within_capacity() {
    let app = TestApp::spawn().await;
    let store = app.app().state.store.clone();
    let (a1, a2, a3) = (
        app.add_user(Role::Agent).await,
        app.add_user(Role::Agent).await,
        app.add_user(Role::Agent).await,
    );
    let auditor = app.add_user(Role::Auditor).await;
    let team = TeamRow {
        id: "team-day".into(),
        name: "Day shift".into(),
        created_at: 0,
    };
    assert!(store.insert_team(&team).await.unwrap());
    for u in [&a1, &a2, &a3, &auditor] {
        store.add_team_member(&team.id, &u.id).await.unwrap();
    }
    assert!(store.set_team_routing(&team.id, true, 2).await.unwrap());
    let channel = store.channels().await.unwrap().remove(0);
    assert!(
        store
            .set_channel(&channel.id, "Main", Some(&team.id))
            .await
            .unwrap()
    );
    // a1, a2 and the auditor are signed in; a3 is not (offline).
    let b1 = app.sign_in(&a1).await;
    app.sign_in(&a2).await;
    app.sign_in(&auditor).await;
    for (i, name) in ["Ana", "Ben", "Cem", "Dua", "Eli"].iter().enumerate() {
        app.customer_writes(&format!("49151000005{i}"), name, "text", "hi")
            .await;
        app.clock.advance_ms(1_000);
    }
    let assigner = &app.app().state.assigner;
    assert_eq!(
        assigner.run_once().await.unwrap(),
        4,
        "two each, then capacity"
    );
    let now = assignees(&app).await;
    let count = |id: &str| now.iter().filter(|(_, a)| a.as_deref() == Some(id)).count();
    assert_eq!((count(&a1.id), count(&a2.id), count(&a3.id)), (2, 2, 0));
    assert_eq!(count(&auditor.id), 0, "auditors never get conversations");
    // Longest waiting first, alternating between the two.
    assert_eq!(now[0].1, now[2].1, "{now:?}");
    assert_ne!(now[0].1, now[1].1, "{now:?}");
    assert_eq!(
        now[4],
        ("Eli".to_owned(), None),
        "waits while nobody is free"
    );
    assert_eq!(assigner.run_once().await.unwrap(), 0);

    // a1 resolves one: the waiting conversation goes to a1 on the next run.
    let mine = now
        .iter()
        .find(|(_, a)| a.as_deref() == Some(a1.id.as_str()))
        .unwrap()
        .0
        .clone();
    let id = app.conversation_named(&mine).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post_form(
        &app,
        &b1,
        &format!("/inbox/c/{id}/status"),
        &[("status", "resolved")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(assigner.run_once().await.unwrap(), 1);
    let eli = app.conversation_named("Eli").await;
    assert_eq!(eli["assignee_id"].as_str(), Some(a1.id.as_str()));
    // The agent sees it in their own list at once.
    let (status, html) = page(&app, &b1, "/inbox?view=mine").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Eli"));

    // Off: nothing more is assigned, even when someone is free.
    assert!(store.set_team_routing(&team.id, false, 2).await.unwrap());
    app.customer_writes("4915100000599", "Fay", "text", "hi")
        .await;
    assert_eq!(assigner.run_once().await.unwrap(), 0);
    // Offline after the presence window: a2 no longer gets anything.
    assert!(store.set_team_routing(&team.id, true, 5).await.unwrap());
    app.clock.advance_ms(veil::inbox::assignment::ONLINE_MS + 1);
    assert_eq!(assigner.run_once().await.unwrap(), 0, "nobody is online");
    app.shutdown().await;
}

#[tokio::test]
async fn admins_manage_users_teams_replies_labels_channels_and_policy_from_the_pages() {
    let app = TestApp::spawn().await;
    let admin = app.add_user(Role::Admin).await;
    let agent = app.add_user(Role::Agent).await;
    let mut b = app.sign_in(&admin).await;

    let r = b.client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/admin/users".into())
    );
    let (status, html) = page(&app, &b, "/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&agent.email));
    assert!(
        !html.contains("id=\"admin-reauth\""),
        "a fresh sign-in counts as re-authentication"
    );

    // Invite: the setup link is shown once, and it works.
    let r = post_form(
        &app,
        &b,
        "/admin/users",
        &[
            ("email", "new.agent@test.veil"),
            ("display_name", "New <b>Agent</b>"),
            ("role", "agent"),
            ("language", "de"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("New &#60;b&#62;Agent&#60;/b&#62;"),
        "names are escaped: {html}"
    );
    let link = html
        .split("<code dir=\"ltr\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    let path = link.trim_start_matches(app.app().url.as_str()).to_owned();
    let path = path.find("/setup/").map(|i| path[i..].to_owned()).unwrap();
    let r = app.browser().get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the setup link opens");
    // An admin may not create an owner.
    let r = post_form(
        &app,
        &b,
        "/admin/users",
        &[
            ("email", "boss@test.veil"),
            ("display_name", "Boss"),
            ("role", "owner"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Disable and enable the agent; the agent's session ends.
    let agent_browser = app.sign_in(&agent).await;
    let r = post_form(&app, &b, &format!("/admin/users/{}/disable", agent.id), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = page(&app, &agent_browser, "/inbox").await;
    assert_ne!(status, StatusCode::OK, "a disabled user's session is over");
    let r = post_form(&app, &b, &format!("/admin/users/{}/enable", agent.id), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post_form(
        &app,
        &b,
        &format!("/admin/users/{}/role", agent.id),
        &[("role", "supervisor")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.app()
            .state
            .store
            .user_by_id(&agent.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        "supervisor"
    );
    let r = post_form(
        &app,
        &b,
        &format!("/admin/users/{}/role", admin.id),
        &[("role", "agent")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not one's own role"
    );

    // Teams: create, add a member, routing.
    let r = post_form(&app, &b, "/admin/teams", &[("name", "Night shift")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let team = app
        .app()
        .state
        .store
        .team_details()
        .await
        .unwrap()
        .remove(0);
    let r = post_form(
        &app,
        &b,
        &format!("/admin/teams/{}/members", team.id),
        &[("user_id", &agent.id)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post_form(
        &app,
        &b,
        &format!("/admin/teams/{}/routing", team.id),
        &[("auto_assign", "1"), ("capacity", "7")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post_form(
        &app,
        &b,
        &format!("/admin/teams/{}/routing", team.id),
        &[("capacity", "0")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let team = app
        .app()
        .state
        .store
        .team_details()
        .await
        .unwrap()
        .remove(0);
    assert_eq!((team.auto_assign, team.capacity), (1, 7));
    let (_, html) = page(&app, &b, "/admin/teams").await;
    assert!(html.contains("Night shift") && html.contains(&format!("data-user=\"{}\"", agent.id)));

    // Channel routed to the team.
    let channel = app.app().state.store.channels().await.unwrap().remove(0);
    let r = post_form(
        &app,
        &b,
        &format!("/admin/channels/{}", channel.id),
        &[("name", "Shop"), ("team", &team.id)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let channel = app.app().state.store.channels().await.unwrap().remove(0);
    assert_eq!(
        (channel.name.as_str(), channel.team_id.as_deref()),
        ("Shop", Some(team.id.as_str()))
    );

    // Canned replies and labels.
    let r = post_form(
        &app,
        &b,
        "/admin/canned",
        &[("shortcut", "bye"), ("body", "Goodbye, {name}!")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post_form(
        &app,
        &b,
        "/admin/canned",
        &[("shortcut", "bye"), ("body", "again")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "shortcuts are unique"
    );
    let canned = app.app().state.store.canned_replies().await.unwrap();
    let bye = canned.iter().find(|c| c.shortcut == "bye").unwrap();
    let r = post_form(&app, &b, &format!("/admin/canned/{}/delete", bye.id), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        app.app()
            .state
            .store
            .canned_replies()
            .await
            .unwrap()
            .iter()
            .all(|c| c.shortcut != "bye")
    );
    let r = post_form(&app, &b, "/admin/labels", &[("name", "Urgent")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let label = app.app().state.store.labels().await.unwrap().remove(0);
    let r = post_form(&app, &b, &format!("/admin/labels/{}/delete", label.id), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.app().state.store.labels().await.unwrap().is_empty());

    // Policy: an allowlist that leaves the admin out is refused; one for agents holds at once.
    let policy = |agents: &'static str, admins: &'static str| {
        vec![
            ("session_idle_minutes", "20"),
            ("session_absolute_hours", "8"),
            ("reauth_minutes", "5"),
            ("allow_agent", agents),
            ("allow_admin", admins),
        ]
    };
    let r = post_form(&app, &b, "/admin/policies", &policy("", "10.0.0.0/8")).await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "would lock the admin out"
    );
    let r = post_form(&app, &b, "/admin/policies", &policy("10.0.0.0/8", "")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let applied = app.app().state.identity.policy();
    assert_eq!(applied.session_idle_minutes, 20);
    let other = app.add_user(Role::Agent).await;
    let client = app.browser();
    let r = app.post_login(&client, &other.email, &other.password).await;
    assert_ne!(
        r.status(),
        StatusCode::SEE_OTHER,
        "agents from 127.0.0.1 are now refused"
    );
    // It survives a restart of the policy cache (read back from the database).
    app.app().state.identity.load_policy().await.unwrap();
    assert_eq!(app.app().state.identity.policy().session_idle_minutes, 20);

    // After the re-authentication window, sensitive forms wait for password and code.
    app.clock.advance_ms(6 * 60_000);
    let (_, html) = page(&app, &b, "/admin/users").await;
    assert!(html.contains("id=\"admin-reauth\""));
    let r = post_form(
        &app,
        &b,
        "/admin/users",
        &[
            ("email", "late@test.veil"),
            ("display_name", "Late"),
            ("role", "agent"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let code = app.code(&admin);
    let r = post_form(
        &app,
        &b,
        "/account/reauth",
        &[
            ("password", admin.password.as_str()),
            ("code", code.as_str()),
            ("next", "/admin/users"),
        ],
    )
    .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/admin/users".into())
    );
    // Re-authenticating renews the session (and so its CSRF token).
    b.csrf = csrf_of(&page(&app, &b, "/admin/users").await.1);
    // Only admin pages may be named as the way back.
    app.clock.advance_ms(30_000);
    let code = app.code(&admin);
    let r = post_form(
        &app,
        &b,
        "/account/reauth",
        &[
            ("password", admin.password.as_str()),
            ("code", code.as_str()),
            ("next", "//evil.example/admin/"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/account", "{}", r.status());
    let log = app.app().state.store.access_log(50).await.unwrap();
    for action in [
        "user.create",
        "user.disable",
        "team.routing",
        "channel.update",
        "label.delete",
        "policy.update",
    ] {
        assert!(log.iter().any(|e| e.action == action), "{action} recorded");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn what_each_role_sees_of_the_admin_pages() {
    let app = TestApp::spawn().await;
    let supervisor = app.add_user(Role::Supervisor).await;
    let agent = app.add_user(Role::Agent).await;
    let s = app.sign_in(&supervisor).await;
    let (status, html) = page(&app, &s, "/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !html.contains("id=\"invite-form\""),
        "supervisors see users but invite nobody"
    );
    assert!(!html.contains("/disable\""));
    assert_eq!(page(&app, &s, "/admin/inbox").await.0, StatusCode::OK);
    assert_eq!(
        page(&app, &s, "/admin/policies").await.0,
        StatusCode::FORBIDDEN
    );
    let a = app.sign_in(&agent).await;
    let (_, inbox) = page(&app, &a, "/inbox").await;
    assert!(
        !inbox.contains("href=\"/admin\""),
        "no admin link for agents"
    );
    assert_eq!(
        page(&app, &a, "/admin/users").await.0,
        StatusCode::FORBIDDEN
    );
    app.shutdown().await;
}

#[tokio::test]
async fn long_histories_page_back_without_skipping_messages_of_the_same_millisecond() {
    let app = TestApp::spawn().await;
    // 205 messages in one webhook: one group commit, so they share their commit time.
    let messages: Vec<serde_json::Value> = (0..205)
        .map(|i| {
            serde_json::json!({"from": "4915100000777", "id": format!("wamid.page.{i}"),
                "timestamp": (1_700_000_000 + i).to_string(), "type": "text", "text": {"body": format!("message number {i}")}})
        })
        .collect();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001234", "phone_number_id": "100000000000001"},
        "contacts": [{"profile": {"name": "Pia"}, "wa_id": "4915100000777"}], "messages": messages}}]}]});
    assert_eq!(
        app.post_webhook(&serde_json::to_vec(&body).unwrap()).await,
        StatusCode::OK
    );
    let id = app.conversation_named("Pia").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The API, 100 at a time with the (time, id) cursor: every message once.
    let mut seen = std::collections::BTreeSet::new();
    let mut path = format!("/api/v1/conversations/{id}/messages?limit=100");
    for _ in 0..5 {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        let list = page["messages"].as_array().unwrap();
        if list.is_empty() {
            break;
        }
        for m in list {
            assert!(
                seen.insert(m["id"].as_str().unwrap().to_owned()),
                "no repeats"
            );
        }
        let oldest = list.first().unwrap();
        path = format!(
            "/api/v1/conversations/{id}/messages?limit=100&before={}&before_id={}",
            oldest["created_at"],
            oldest["id"].as_str().unwrap()
        );
    }
    assert_eq!(seen.len(), 205);

    // The page: the newest 200, then a link to the 5 before them.
    let owner = app.add_user(Role::Owner).await;
    let b = app.sign_in(&owner).await;
    let (_, html) = page(&app, &b, &format!("/inbox/c/{id}")).await;
    assert_eq!(html.matches("class=\"message in\"").count(), 200);
    assert!(html.contains("message number 204") && !html.contains("message number 4<"));
    let earlier = html
        .split("id=\"earlier\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let (status, html) = page(&app, &b, &earlier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("class=\"message in\"").count(), 5);
    assert!(html.contains("message number 0<") && html.contains("id=\"latest\""));
    assert!(!html.contains("id=\"earlier\""));
    app.shutdown().await;
}

#[tokio::test]
async fn a_refused_inbox_action_shows_the_conversation_with_the_reason() {
    let app = TestApp::spawn().await;
    app.customer_writes("4915100000888", "Rosa", "text", "hi")
        .await;
    let id = app.conversation_named("Rosa").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owner = app.add_user(Role::Owner).await;
    let b = app.sign_in(&owner).await;
    let long = "x".repeat(5_000);
    let r = post_form(&app, &b, &format!("/inbox/c/{id}/note"), &[("body", &long)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"composer-error\"") && html.contains("Rosa"),
        "the page, with the reason"
    );
    let r = post_form(
        &app,
        &b,
        &format!("/inbox/c/{id}/status"),
        &[("status", "archived")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_form(
        &app,
        &b,
        &format!("/inbox/c/{id}/assign"),
        &[("assignee", "nobody-such")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_form(
        &app,
        &b,
        "/inbox/c/not-a-conversation/note",
        &[("body", "hello")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}
