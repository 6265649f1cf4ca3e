//! Several Veil nodes on one database (issue 7): leases, shared pacing, concurrent migrations,
//! `veil migrate-data`, and two real `veil serve` processes sharing the work while one is killed.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use veil::clock::{Clock, SystemClock};
use veil::identity::Role;

use crate::helpers::{ACCESS_TOKEN, APP_SECRET, TestApp, VERIFY_TOKEN, postgres_url, sign_in_with};

const VEIL: &str = env!("CARGO_BIN_EXE_veil");

#[allow(
    clippy::disallowed_methods,
    reason = "waits for other processes and servers; every loop is bounded"
)]
async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn a_job_runs_on_the_node_holding_its_lease_until_that_node_stops_renewing() {
    let app = TestApp::spawn().await;
    let store = &app.app().state.store;
    assert!(store.take_lease("audit", "a", 1_000, 11_000).await.unwrap());
    assert!(!store.take_lease("audit", "b", 2_000, 12_000).await.unwrap());
    assert!(
        store
            .take_lease("other job", "b", 2_000, 12_000)
            .await
            .unwrap(),
        "leases are per job"
    );
    assert!(
        store.take_lease("audit", "a", 9_000, 19_000).await.unwrap(),
        "the holder renews"
    );
    assert!(
        !store
            .take_lease("audit", "b", 18_000, 28_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_lease("audit", "b", 19_001, 29_001)
            .await
            .unwrap(),
        "a lease nobody renewed moves on"
    );
    assert!(
        !store
            .take_lease("audit", "a", 20_000, 30_000)
            .await
            .unwrap()
    );
    store.release_lease("audit", "b").await.unwrap();
    assert!(
        store
            .take_lease("audit", "a", 20_001, 30_001)
            .await
            .unwrap(),
        "a released lease is free at once"
    );
    app.shutdown().await;
}

/// Two outboxes on one database stand for two nodes: together they send no more than one
/// number's rate allows.
#[tokio::test]
async fn pacing_per_number_holds_across_nodes() {
    let app = TestApp::spawn_with(|config, _| {
        config.outbound.messages_per_second = 5;
    })
    .await;
    let mut conversations = Vec::new();
    for i in 0..12 {
        app.customer_writes(&format!("49151000{i:05}"), &format!("P{i}"), "text", "hi")
            .await;
    }
    for c in app.conversations().await {
        conversations.push(c["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(conversations.len(), 12);
    for id in &conversations {
        let (status, body) = app.send_text(id, "Hello").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let node_a = app.app().state.outbox.clone();
    let node_b = veil::outbox::Outbox::new(
        node_a.store.clone(),
        node_a.keys.clone(),
        node_a.clock.clone(),
        node_a.graph.clone(),
        node_a.files.clone(),
        node_a.config.clone(),
        node_a.phone_number_id.clone(),
    );
    let (a, b) = tokio::join!(node_a.run_once(), node_b.run_once());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.sent + b.sent,
        5,
        "one second's burst at 5/s, shared by both nodes: {a:?} {b:?}"
    );
    assert_eq!(a.paced + b.paced, 7);
    app.clock.advance_ms(1_000);
    let (a, b) = tokio::join!(node_a.run_once(), node_b.run_once());
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 5);
    // Housekeeping deletes only buckets whose time has passed. Now that is the two recipients
    // still waiting (pacing creates a bucket at 0 to lock it, and a refused send stores nothing);
    // the number's bucket and the ten sent-to recipients' pair buckets are ahead of now (the pair
    // refill is six seconds).
    let state = &app.app().state;
    assert_eq!(veil::app::housekeeping_once(state).await.unwrap().pacing, 2);
    app.clock.advance_ms(60_000);
    assert_eq!(
        veil::app::housekeeping_once(state).await.unwrap().pacing,
        11
    );
    assert_eq!(veil::app::housekeeping_once(state).await.unwrap().pacing, 0);
    // A pruned bucket paces like a new one: the last two go at once.
    let (a, b) = tokio::join!(node_a.run_once(), node_b.run_once());
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 2);
    assert_eq!(veil::app::housekeeping_once(state).await.unwrap().pacing, 0);
    app.settle().await;
    app.shutdown().await;
}

#[tokio::test]
async fn several_nodes_may_migrate_one_fresh_database_at_once() {
    let Some(admin) = postgres_url() else {
        eprintln!("skipped: PostgreSQL only (TEST_POSTGRES_URL)");
        return;
    };
    let name = format!("veil_t_{}", uuid::Uuid::now_v7().simple());
    let url = veil::store::create_database(&admin, &name).await.unwrap();
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move {
            let store = veil::store::open(&url).await?;
            store.migrate().await
        });
    }
    while let Some(done) = starts.join_next().await {
        done.unwrap().expect("every node's migration succeeds");
    }
    let store = veil::store::open(&url).await.unwrap();
    assert_eq!(store.count_messages().await.unwrap(), 0);
    drop(store);
    veil::store::drop_database(&admin, &name).await.unwrap();
}

/// The command line, for the installation whose public URL is `public_url` (which names the audit
/// log in its checkpoints; every node of an installation shares it).
fn veil_cli(public_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(VEIL)
        .args(args)
        .env_remove("VEIL_CONFIG")
        .env("VEIL_SERVER__PUBLIC_URL", public_url)
        .output()
        .expect("veil runs")
}

/// `veil audit verify` passes on `database_url` with the app's key files.
fn audit_verifies(public_url: &str, app: &TestApp, database_url: &str) {
    let dir = app.dir.path().to_str().unwrap();
    let out = veil_cli(
        public_url,
        &[
            "--data-dir",
            dir,
            "--database-url",
            database_url,
            "audit",
            "verify",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn migrate_data_moves_an_installation_to_postgres_with_its_ciphertext_and_audit_log() {
    let Some(admin) = postgres_url() else {
        eprintln!("skipped: needs PostgreSQL as the target (TEST_POSTGRES_URL)");
        return;
    };
    let mut app = TestApp::spawn_sqlite().await;
    for (i, name) in ["Ana", "Bruno", "Chiara"].iter().enumerate() {
        app.customer_writes(&format!("5511900000{i:03}"), name, "text", "Olá, tudo bem?")
            .await;
    }
    let ana = app.conversation_named("Ana").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send_text(&ana, "Tudo ótimo!").await;
    app.run_outbox().await;
    let user = app.add_user(Role::Supervisor).await;
    app.sign_in(&user).await;
    app.app().state.audit.checkpoint().await.unwrap();
    let before = app.messages(&ana).await;
    let conversations_before = app.conversations().await.len();
    app.app.take().unwrap().shutdown().await;

    let name = format!("veil_t_{}", uuid::Uuid::now_v7().simple());
    let target = veil::store::create_database(&admin, &name).await.unwrap();
    let source = format!("sqlite://{}", app.dir.path().join("veil.db").display());
    let public_url = app.config.public_url.clone();
    let out = veil_cli(
        &public_url,
        &["migrate-data", "--from", &source, "--to", &target],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("messages: 4 rows"), "{stdout}");
    assert!(stdout.contains("contacts: 3 rows"), "{stdout}");

    // The moved log verifies, with the same key and checkpoints.
    audit_verifies(&public_url, &app, &target);
    // Once data is there, a second copy is refused.
    let out = veil_cli(
        &public_url,
        &["migrate-data", "--from", &source, "--to", &target],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds data"));

    // Veil on the new database reads the same messages with the same keys and API token.
    let mut config = app.config.clone();
    config.database_url = veil::config::DatabaseUrl::new(target.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let moved = veil::app::start(
        config,
        listener,
        veil::app::AppOptions {
            clock: app.clock.clone(),
            background_workers: false,
            bootstrap_owner: false,
        },
    )
    .await
    .unwrap();
    let get = |path: String| {
        let client = app.client.clone();
        let url = format!("{}{path}", moved.url);
        let token = app.token.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let list = get("/api/v1/conversations?limit=200".into()).await;
    assert_eq!(
        list["conversations"].as_array().unwrap().len(),
        conversations_before
    );
    let after = get(format!("/api/v1/conversations/{ana}/messages?limit=500")).await;
    assert_eq!(after["messages"].as_array().unwrap(), &before);
    assert!(after.to_string().contains("Olá, tudo bem?"));
    assert!(after.to_string().contains("Tudo ótimo!"));
    moved.shutdown().await;
    veil::store::drop_database(&admin, &name).await.unwrap();
    app.shutdown().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `veil serve` process on the test's database, key file and simulator.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    fn start(app: &TestApp, port: u16) -> Self {
        let child = Command::new(VEIL)
            .arg("--data-dir")
            .arg(app.dir.path())
            .arg("--database-url")
            .arg(app.config.database_url.expose())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("VEIL_CONFIG")
            .env("VEIL_WHATSAPP__APP_SECRET", APP_SECRET)
            .env("VEIL_WHATSAPP__VERIFY_TOKEN", VERIFY_TOKEN)
            .env("VEIL_WHATSAPP__ACCESS_TOKEN", ACCESS_TOKEN)
            .env(
                "VEIL_WHATSAPP__PHONE_NUMBER_ID",
                &app.config.whatsapp.phone_number_id,
            )
            .env(
                "VEIL_WHATSAPP__GRAPH_API_BASE",
                &app.config.whatsapp.graph_api_base,
            )
            .env("VEIL_SERVER__PUBLIC_URL", &app.config.public_url)
            .env("VEIL_OUTBOUND__REQUEST_TIMEOUT_MS", "1000")
            .env("VEIL_OUTBOUND__RECONCILE_MS", "3000")
            .env("VEIL_OUTBOUND__BASE_BACKOFF_MS", "100")
            .env("VEIL_OUTBOUND__MAX_BACKOFF_MS", "500")
            .env("VEIL_OUTBOUND__MAX_ATTEMPTS", "50")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("veil serve starts");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            pause(100).await;
        }
        panic!("node {} did not start", self.url);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a server-sent event stream into `seen` (each `change` event's JSON).
fn follow_events(mut response: reqwest::Response, seen: Arc<Mutex<Vec<Value>>>) {
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if event.contains("event: change")
                    && let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: "))
                    && let Ok(value) = serde_json::from_str::<Value>(data)
                {
                    seen.lock().unwrap().push(value);
                }
            }
        }
    });
}

/// One signed webhook from `customer`; true when the node answered 200.
async fn deliver(
    client: &reqwest::Client,
    node: &str,
    phone_number_id: &str,
    customer: usize,
    wamid: &str,
) -> bool {
    let body = veil::cli::bench::webhook_body(customer, wamid, SystemClock.now_ms() / 1000)
        .replace("100000000000001", phone_number_id);
    let signature = veil_crypto::sign_hub_body(APP_SECRET.as_bytes(), body.as_bytes());
    matches!(
        client
            .post(format!("{node}/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await,
        Ok(r) if r.status() == StatusCode::OK
    )
}

/// A reply through `node`'s API; the message id when accepted.
async fn reply(
    client: &reqwest::Client,
    node: &str,
    token: &str,
    conversation: &str,
    text: &str,
) -> Option<String> {
    let r = client
        .post(format!(
            "{node}/api/v1/conversations/{conversation}/messages"
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({ "text": text }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if r.status() != StatusCode::ACCEPTED {
        return None;
    }
    r.json::<Value>().await.ok()?["id"]
        .as_str()
        .map(str::to_owned)
}

/// Inbound through either node, as a load balancer would spread it; when a node does not answer,
/// the webhook goes to the other (Meta redelivers what was not answered 200).
async fn inbound_load(
    client: &reqwest::Client,
    nodes: &[String],
    phone_number_id: &str,
    round: usize,
    count: usize,
) -> Vec<String> {
    let mut acked = Vec::new();
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..count {
        let client = client.clone();
        let nodes = nodes.to_vec();
        let phone_number_id = phone_number_id.to_owned();
        sends.spawn(async move {
            let wamid = format!("wamid.nodes.{round}.{n}");
            for attempt in 0..10 {
                let node = &nodes[(n + attempt) % nodes.len()];
                if deliver(&client, node, &phone_number_id, n % 30, &wamid).await {
                    return Some(wamid);
                }
            }
            None
        });
    }
    while let Some(done) = sends.join_next().await {
        acked.push(done.unwrap().expect("every webhook is taken by some node"));
    }
    acked
}

#[tokio::test]
async fn two_nodes_share_the_work_and_one_dies_without_losing_or_repeating_anything() {
    if postgres_url().is_none() {
        eprintln!("skipped: several nodes need PostgreSQL (TEST_POSTGRES_URL)");
        return;
    }
    let (port_a, port_b) = (free_port(), free_port());
    let app = TestApp::spawn_with(|_, sim| {
        // Status webhooks go to node B, which survives; faults on every kind of send.
        sim.webhook_url = Some(format!("http://127.0.0.1:{port_b}/webhooks/whatsapp"));
        sim.faults.error_rate = 0.1;
        sim.faults.drop_after_accept_rate = 0.05;
        sim.faults.latency_ms = 30;
    })
    .await;
    let supervisor = app.add_user(Role::Supervisor).await;
    let client = reqwest::Client::new();
    let node_a = Node::start(&app, port_a);
    let node_b = Node::start(&app, port_b);
    node_a.wait_ready(&client).await;
    node_b.wait_ready(&client).await;
    let (a, b) = (node_a.url.clone(), node_b.url.clone());
    let phone = app.config.whatsapp.phone_number_id.clone();

    // An agent follows the inbox on node B.
    let code = supervisor
        .totp
        .code_at(SystemClock.now_ms() / 1000)
        .unwrap();
    // The nodes run on the real clock.
    let agent = sign_in_with(&b, &supervisor, &code).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stream = agent.get(format!("{b}/inbox/events")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    follow_events(stream, seen.clone());
    pause(300).await;

    // A message that arrives at node A reaches the agent on node B.
    for i in 0..5 {
        let before = seen.lock().unwrap().len();
        assert!(deliver(&client, &a, &phone, 100 + i, &format!("wamid.nodes.a.{i}")).await);
        let started = Instant::now();
        while seen.lock().unwrap()[before..]
            .iter()
            .all(|e| e["kind"] != "message")
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "node B's agent heard of node A's message {i}"
            );
            pause(20).await;
        }
    }

    // Inbound through both nodes.
    let both = vec![a.clone(), b.clone()];
    let mut acked = inbound_load(&client, &both, &phone, 1, 300).await;
    let list: Value = client
        .get(format!("{b}/api/v1/conversations?limit=200"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversations: Vec<String> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(conversations.len(), 35);

    // Replies through both nodes; those through A must show up on B's stream by conversation.
    let mut queued = Vec::new();
    let mut via_a = HashSet::new();
    for (i, conversation) in conversations.iter().enumerate().take(30) {
        let node = if i % 2 == 0 { &a } else { &b };
        let id = reply(
            &client,
            node,
            &app.token,
            conversation,
            &format!("Reply {i}"),
        )
        .await
        .expect("reply accepted");
        if node == &a {
            via_a.insert(conversation.clone());
        }
        queued.push(id);
    }

    // Node A dies mid-run: sends in flight, inbound still arriving.
    let more_sends = {
        let (client, a, token) = (client.clone(), a.clone(), app.token.clone());
        let conversations = conversations.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for (i, conversation) in conversations.iter().enumerate().take(30) {
                if let Some(id) =
                    reply(&client, &a, &token, conversation, &format!("Late {i}")).await
                {
                    ids.push(id);
                }
            }
            ids
        })
    };
    pause(150).await;
    let mut node_a = node_a;
    node_a.child.kill().unwrap();
    node_a.child.wait().unwrap();
    queued.extend(more_sends.await.unwrap());
    acked.extend(inbound_load(&client, &both, &phone, 2, 300).await);
    for (i, conversation) in conversations.iter().enumerate().skip(30) {
        queued.push(
            reply(&client, &b, &app.token, conversation, &format!("After {i}"))
                .await
                .expect("the surviving node takes replies"),
        );
    }

    // Every send reaches a final state through the surviving node.
    let store = app.app().state.store.clone();
    let started = Instant::now();
    loop {
        let mut open = 0;
        for id in &queued {
            let state = store.outbox_state(id).await.unwrap();
            if state.as_deref() != Some("sent") {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{open} of {} sends still not sent",
            queued.len()
        );
        pause(250).await;
    }

    // Zero lost: every webhook a node answered 200 is stored.
    let acked_count = i64::try_from(acked.len()).unwrap();
    assert_eq!(store.wamids_present(&acked).await.unwrap(), acked_count);
    // Zero duplicates: Meta accepted each message exactly once.
    let mut accepted: HashMap<String, usize> = HashMap::new();
    for sent in app.sim.sent() {
        if let Some(tag) = sent.biz_opaque_callback_data {
            *accepted.entry(tag).or_default() += 1;
        }
    }
    for id in &queued {
        assert_eq!(
            accepted.get(&format!("veil:{id}")).copied(),
            Some(1),
            "message {id} reached Meta exactly once"
        );
    }
    // The agent on B heard of every reply made through A.
    let heard: HashSet<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| e["conversation"].as_str().map(str::to_owned))
        .collect();
    let missed: Vec<&String> = via_a.difference(&heard).collect();
    assert!(missed.is_empty(), "B's agent missed {missed:?}");

    // One audit tree, written by three processes, verifies.
    drop(node_b);
    audit_verifies(
        &app.config.public_url,
        &app,
        app.config.database_url.expose(),
    );
    app.shutdown().await;
}
