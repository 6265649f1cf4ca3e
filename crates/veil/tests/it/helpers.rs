//! `TestApp`: the real Veil router on port 0 with the Cloud API simulator on port 0, a fresh
//! database (SQLite file, or a scratch PostgreSQL database when `TEST_POSTGRES_URL` is set),
//! a manual clock, and no background workers: tests call `run_once()` themselves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cloud_api_sim::{SimConfig, SimHandle};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use veil::app::{AppOptions, RunningApp};
use veil::clock::{Clock, ManualClock, SystemClock};
use veil::config::{Config, Overrides, Require};
use veil::identity::totp::TotpSecret;
use veil::identity::{Permission, Permissions, Role};

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ACCESS_TOKEN: &str = "test-access-token";

/// The PostgreSQL server URL tests should use, if any.
pub fn postgres_url() -> Option<String> {
    #[allow(
        clippy::disallowed_methods,
        reason = "tests pick their backend from the environment, as CI sets it"
    )]
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub struct TestApp {
    pub app: Option<RunningApp>,
    pub sim: SimHandle,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub token: String,
    pub client: reqwest::Client,
    pub config: Config,
    scratch_db: Option<(String, String)>,
}

/// The scratch database URL of a PostgreSQL-backed test app.
impl TestApp {
    pub fn postgres_database_url(&self) -> Option<String> {
        self.config
            .database_url
            .expose()
            .starts_with("postgres")
            .then(|| self.config.database_url.expose().to_owned())
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_, _| {}).await
    }

    /// Starts everything; `tweak` may change Veil's config and the simulator's before start.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config, &mut SimConfig)) -> Self {
        Self::spawn_on(postgres_url(), tweak).await
    }

    /// Starts on SQLite whatever the environment says (a source for `veil migrate-data`).
    pub async fn spawn_sqlite() -> Self {
        Self::spawn_on(None, |_, _| {}).await
    }

    async fn spawn_on(
        postgres: Option<String>,
        tweak: impl FnOnce(&mut Config, &mut SimConfig),
    ) -> Self {
        veil::cli::install_tls_provider();
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, scratch_db) = match postgres {
            Some(admin) => {
                let name = format!("veil_t_{}", uuid::Uuid::now_v7().simple());
                let url = veil::store::create_database(&admin, &name)
                    .await
                    .expect("PostgreSQL must be reachable when TEST_POSTGRES_URL is set");
                (url, Some((admin, name)))
            }
            None => (
                format!("sqlite://{}", dir.path().join("veil.db").display()),
                None,
            ),
        };
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let veil_addr = listener.local_addr().expect("addr");
        let overrides = Overrides {
            data_dir: Some(dir.path().to_owned()),
            listen: Some(veil_addr),
            database_url: Some(database_url),
        };
        let mut config =
            veil::config::load_from(None, &[], &overrides, Require::StorageOnly).expect("config");
        let mut sim_config = SimConfig {
            app_secret: APP_SECRET.into(),
            access_token: ACCESS_TOKEN.into(),
            webhook_url: Some(format!("http://{veil_addr}/webhooks/whatsapp")),
            status_step_ms: 0,
            ..SimConfig::default()
        };
        config.whatsapp.app_secret = SecretString::from(APP_SECRET.to_owned());
        config.whatsapp.verify_token = SecretString::from(VERIFY_TOKEN.to_owned());
        config.whatsapp.access_token = SecretString::from(ACCESS_TOKEN.to_owned());
        config.whatsapp.phone_number_id = sim_config.phone_number_id.clone();
        config.outbound.request_timeout_ms = 2_000;
        tweak(&mut config, &mut sim_config);
        let sim = cloud_api_sim::spawn(sim_config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("sim");
        config.whatsapp.graph_api_base = format!("{}/v23.0", sim.url);
        veil::keys::init_keyring(&config.key_file).expect("key file");
        let clock = ManualClock::new(SystemClock.now_ms());
        let options = AppOptions {
            clock: clock.clone(),
            background_workers: false,
            bootstrap_owner: false,
        };
        let app = veil::app::start(config.clone(), listener, options)
            .await
            .expect("app starts");
        let (_, secret) = app
            .state
            .identity
            .create_token(None, "test", Permissions::of(&Permission::ALL), None)
            .await
            .expect("token");
        Self {
            token: secret.expose_text().to_owned(),
            app: Some(app),
            sim,
            clock,
            dir,
            client: reqwest::Client::new(),
            config,
            scratch_db,
        }
    }

    pub fn app(&self) -> &RunningApp {
        self.app.as_ref().expect("running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app().url)
    }

    /// POSTs `body` to the webhook, signed with the app secret.
    pub async fn post_webhook(&self, body: &[u8]) -> StatusCode {
        let signature = veil_crypto::sign_hub_body(APP_SECRET.as_bytes(), body);
        self.post_webhook_raw(body, Some(&signature)).await
    }

    pub async fn post_webhook_raw(&self, body: &[u8], signature: Option<&str>) -> StatusCode {
        let mut request = self
            .client
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send().await.expect("webhook request").status()
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A simulated customer writes; returns once Veil has committed the webhook.
    pub async fn customer_writes(&self, from: &str, name: &str, kind: &str, text: &str) -> String {
        let spec = cloud_api_sim::InboundSpec {
            from: from.into(),
            name: name.into(),
            kind: kind.into(),
            text: text.into(),
            context_wamid: None,
            expired_media: false,
            file: None,
        };
        let wamid = self.sim.customer_writes(&spec).expect("sim accepts");
        self.settle().await;
        wamid
    }

    /// Waits until the simulator has delivered every webhook it queued (and Veil answered them).
    pub async fn settle(&self) {
        for _ in 0..1_000 {
            if self.sim.pending_webhooks() == 0 {
                return;
            }
            #[allow(
                clippy::disallowed_methods,
                reason = "waits for another server's deliveries; bounded to 10 s"
            )]
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("simulator still had webhooks pending after 10 s");
    }

    /// The conversations list.
    pub async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/conversations?limit=200").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The conversation whose contact has `name`.
    pub async fn conversation_named(&self, name: &str) -> Value {
        self.conversations()
            .await
            .into_iter()
            .find(|c| c["contact"]["display_name"] == name)
            .unwrap_or_else(|| panic!("no conversation for {name}"))
    }

    /// The `text` of each message of a conversation, oldest first (null where not readable).
    pub async fn message_texts(&self, conversation_id: &str) -> Vec<Value> {
        self.messages(conversation_id)
            .await
            .into_iter()
            .map(|m| m["text"].clone())
            .collect()
    }

    pub async fn messages(&self, conversation_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!(
                "/api/v1/conversations/{conversation_id}/messages?limit=500"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    pub async fn send_text(&self, conversation_id: &str, text: &str) -> (StatusCode, Value) {
        self.post_json(
            &format!("/api/v1/conversations/{conversation_id}/messages"),
            &serde_json::json!({"text": text}),
        )
        .await
    }

    /// One run of the send worker, then waits for the simulator's status webhooks.
    pub async fn run_outbox(&self) -> veil::outbox::SendReport {
        let report = self
            .app()
            .state
            .outbox
            .run_once()
            .await
            .expect("send worker");
        self.settle().await;
        report
    }

    pub async fn shutdown(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        if let Some((admin, name)) = self.scratch_db.take() {
            veil::store::drop_database(&admin, &name)
                .await
                .expect("drop scratch database");
        }
    }
}

/// A test that ends without `shutdown` (it returned early, or failed) still drops its scratch
/// database: `DROP DATABASE … WITH (FORCE)` ends the app's connections. It runs on a thread of
/// its own because a test's runtime may be gone or busy by now.
impl Drop for TestApp {
    fn drop(&mut self) {
        let Some((admin, name)) = self.scratch_db.take() else {
            return;
        };
        drop(self.app.take());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(veil::store::drop_database(&admin, &name)))
        })
        .join();
        if !matches!(dropped, Ok(Ok(Ok(())))) {
            eprintln!("scratch database could not be dropped");
        }
    }
}

/// The fixture directory shared beside the repository.
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/whatsapp")
}

/// A user made for a test, with everything needed to sign in.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub totp: TotpSecret,
}

/// A browser: cookies kept, redirects not followed, and the session's CSRF token.
pub struct Browser {
    pub client: reqwest::Client,
    pub csrf: String,
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(html: &str) -> String {
    let (_, rest) = html
        .split_once("name=\"csrf\" value=\"")
        .expect("a CSRF field on the page");
    rest.split('"').next().unwrap_or_default().to_owned()
}

impl TestApp {
    /// A user with a password and an enrolled second factor.
    pub async fn add_user(&self, role: Role) -> TestUser {
        let identity = &self.app().state.identity;
        let email = format!(
            "{}-{}@test.veil",
            role.as_str(),
            uuid::Uuid::now_v7().simple()
        );
        let created = identity
            .create_user(None, &email, "Test Person", role, "en")
            .await
            .expect("user");
        let password = format!("lantern orchard {} granite", uuid::Uuid::now_v7().simple());
        identity
            .set_password(&created.user.id, &SecretString::from(password.clone()))
            .await
            .expect("password");
        let totp = TotpSecret::generate();
        identity
            .enroll_directly(&created.user.id, &totp)
            .await
            .expect("2fa");
        TestUser {
            id: created.user.id,
            email,
            password,
            totp,
        }
    }

    #[allow(
        clippy::unused_self,
        reason = "reads as app.browser() beside the other helpers"
    )]
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// The user's TOTP code at the app's current time.
    pub fn code(&self, user: &TestUser) -> String {
        user.totp.code_at(self.clock.now_ms() / 1000).expect("code")
    }

    /// Posts the password form; returns the response.
    pub async fn post_login(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        post_login(client, &self.app().url, email, password).await
    }

    /// Posts a second-factor code with the page's CSRF token.
    pub async fn post_code(&self, client: &reqwest::Client, code: &str) -> reqwest::Response {
        post_code(client, &self.app().url, code).await
    }

    /// Signs in with password and a fresh code (the clock moves one step first, so that the
    /// same user can sign in twice in a test without a replayed code).
    pub async fn sign_in(&self, user: &TestUser) -> Browser {
        self.clock.advance_ms(30_000);
        let client = sign_in_with(&self.app().url, user, &self.code(user)).await;
        let account = client
            .get(self.url("/account"))
            .send()
            .await
            .expect("account");
        assert_eq!(account.status(), StatusCode::OK);
        let csrf = csrf_of(&account.text().await.expect("page"));
        Browser { client, csrf }
    }
}

/// Posts the password form to the app at `base`.
pub async fn post_login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("login")
}

/// Posts a second-factor code to the app at `base`, with the page's CSRF token.
pub async fn post_code(client: &reqwest::Client, base: &str, code: &str) -> reqwest::Response {
    let page = client
        .get(format!("{base}/login/2fa"))
        .send()
        .await
        .expect("2fa page");
    let csrf = csrf_of(&page.text().await.expect("page"));
    client
        .post(format!("{base}/login/2fa"))
        .form(&[("csrf", csrf.as_str()), ("code", code)])
        .send()
        .await
        .expect("2fa")
}

/// Signs `user` in on the app at `base` with password and `code`; the client holds the session.
pub async fn sign_in_with(base: &str, user: &TestUser, code: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = post_login(&client, base, &user.email, &user.password).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "password accepted"
    );
    let response = post_code(&client, base, code).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "code accepted on {base}"
    );
    client
}

/// Posts a form from a signed-in browser, with its CSRF token.
pub async fn post_form(
    app: &TestApp,
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf", b.csrf.as_str())];
    form.extend_from_slice(fields);
    b.client
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Where a redirect points.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A page as a signed-in browser sees it.
pub async fn page(app: &TestApp, b: &Browser, path: &str) -> (StatusCode, String) {
    let r = b.client.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A local SMTP sink: accepts one message per connection and hands over its DATA.
pub async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap_or_default()).unwrap();
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}
