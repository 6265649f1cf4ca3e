//! `veil demo`: Veil, the Cloud API simulator and simulated customers, on 127.0.0.1, with no
//! Meta account and no configuration. Secrets are generated on first start and kept in
//! `<data-dir>/demo.json` (mode 0600), so a second start reuses the data.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::cli::setup::{Global, ensure_sqlite_dir, load_config, wait_for_stop_signal};
use crate::clock::{Clock, SystemClock};
use crate::config::Require;

/// What a script needs to drive the demo. Written to `demo.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoInfo {
    pub url: String,
    pub webhook_url: String,
    pub app_secret: String,
    pub verify_token: String,
    pub phone_number_id: String,
    pub simulator_url: String,
    pub graph_api_base: String,
    pub access_token: String,
    pub api_token: String,
    pub data_dir: String,
    /// People to sign in as: e-mail, password, and the TOTP secret (base32) for an authenticator
    /// app or `oathtool --totp -b`.
    #[serde(default)]
    pub users: Vec<DemoUser>,
}

/// A demo account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub email: String,
    pub role: String,
    pub password: String,
    pub totp_secret: String,
}

/// The demo's owner, three agents and an auditor, created on first start and kept in `demo.json`.
async fn demo_users(
    identity: &crate::identity::Identity,
    previous: Option<&[DemoUser]>,
) -> anyhow::Result<Vec<DemoUser>> {
    use crate::identity::Role;
    use crate::identity::totp::TotpSecret;
    let mut users = Vec::new();
    for (email, name, role) in [
        ("owner@demo.veil", "Demo Owner", Role::Owner),
        ("agent@demo.veil", "Demo Agent", Role::Agent),
        ("agent2@demo.veil", "Second Agent", Role::Agent),
        ("agent3@demo.veil", "Third Agent", Role::Agent),
        ("auditor@demo.veil", "Demo Auditor", Role::Auditor),
    ] {
        let kept = previous
            .and_then(|p| p.iter().find(|u| u.email == email))
            .cloned();
        let exists = identity.user_by_email(email).await?.is_some();
        if let (Some(kept), true) = (kept, exists) {
            users.push(kept);
            continue;
        }
        let created = identity
            .create_user(None, email, name, role, crate::i18n::AUTO)
            .await?;
        let password = format!("demo {} {}", random_secret(), random_secret());
        identity
            .set_password(&created.user.id, &SecretString::from(password.clone()))
            .await?;
        let secret = TotpSecret::generate();
        identity.enroll_directly(&created.user.id, &secret).await?;
        users.push(DemoUser {
            email: email.to_owned(),
            role: role.as_str().to_owned(),
            password,
            totp_secret: secret.base32().to_string(),
        });
    }
    Ok(users)
}

/// Canned replies and labels a support team starts with (kept if they exist).
async fn seed_desk(desk: &crate::inbox::desk::Desk) -> anyhow::Result<()> {
    if !desk.store.canned_replies().await?.is_empty() {
        return Ok(());
    }
    for (shortcut, body) in [
        (
            "hello",
            "Hello {name}, this is {agent}. How can I help you today?",
        ),
        (
            "thanks",
            "Thank you, {name}! Is there anything else I can do for you?",
        ),
        (
            "tracking",
            "Your order is on its way; you will get the tracking link by e-mail.",
        ),
    ] {
        desk.create_canned_reply(shortcut, body).await?;
    }
    for label in ["VIP", "Billing", "Delivery"] {
        desk.create_label(label).await?;
    }
    Ok(())
}

fn random_secret() -> String {
    hex::encode(rand::rng().random::<[u8; 24]>())
}

/// Runs the demo until Ctrl-C or SIGTERM.
#[allow(
    clippy::too_many_lines,
    reason = "a linear start-up script; each step depends on the one before"
)]
pub async fn run(global: &Global, port: u16, no_traffic: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let veil_addr = listener.local_addr()?;
    let mut config = load_config(global, Some(veil_addr), Require::StorageOnly)?;
    crate::cli::setup::init_logging(&config.log_filter);
    ensure_sqlite_dir(&config)?;
    crate::keys::init_keyring(&config.key_file)?;
    let info_path = config.data_dir.join("demo.json");
    let previous: Option<DemoInfo> = std::fs::read(&info_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let app_secret = previous
        .as_ref()
        .map_or_else(random_secret, |p| p.app_secret.clone());
    let verify_token = previous
        .as_ref()
        .map_or_else(random_secret, |p| p.verify_token.clone());
    let access_token = previous
        .as_ref()
        .map_or_else(random_secret, |p| p.access_token.clone());
    let webhook_url = format!("http://{veil_addr}/webhooks/whatsapp");
    let sim_config = cloud_api_sim::SimConfig {
        app_secret: app_secret.clone(),
        access_token: access_token.clone(),
        webhook_url: Some(webhook_url.clone()),
        status_step_ms: 1_500,
        ..cloud_api_sim::SimConfig::default()
    };
    let phone_number_id = sim_config.phone_number_id.clone();
    let sim =
        cloud_api_sim::spawn(sim_config.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let graph_api_base = format!("{}/v23.0", sim.url);
    config.whatsapp.graph_api_base = graph_api_base.clone();
    config.whatsapp.app_secret = SecretString::from(app_secret.clone());
    config.whatsapp.verify_token = SecretString::from(verify_token.clone());
    config.whatsapp.access_token = SecretString::from(access_token.clone());
    config.whatsapp.phone_number_id = phone_number_id.clone();
    config.whatsapp.display_phone_number = sim_config.display_phone_number.clone();
    config.whatsapp.waba_id = sim_config.waba_id.clone();
    let data_dir = config.data_dir.display().to_string();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = crate::app::start(
        config,
        listener,
        crate::app::AppOptions {
            clock: clock.clone(),
            background_workers: true,
            bootstrap_owner: false,
        },
    )
    .await?;
    let api_token = match previous.as_ref().map(|p| p.api_token.clone()) {
        Some(token)
            if app
                .state
                .store
                .api_token_by_hash(&veil_crypto::TokenHash::of(&token).0)
                .await?
                .is_some() =>
        {
            token
        }
        _ => {
            use crate::identity::{Permission, Permissions};
            let scopes = Permissions::of(&[
                Permission::ConversationReadAll,
                Permission::ConversationReply,
            ]);
            let (_, secret) = app
                .state
                .identity
                .create_token(None, "demo", scopes, None)
                .await?;
            secret.expose_text().to_owned()
        }
    };
    let users = demo_users(
        &app.state.identity,
        previous.as_ref().map(|p| p.users.as_slice()),
    )
    .await?;
    seed_desk(&app.state.desk).await?;
    let info = DemoInfo {
        url: app.url.clone(),
        webhook_url,
        app_secret,
        verify_token,
        phone_number_id,
        simulator_url: sim.url.clone(),
        graph_api_base,
        access_token,
        api_token,
        data_dir,
        users,
    };
    crate::keys::write_private(&info_path, &serde_json::to_vec_pretty(&info)?)?;
    println!("Veil demo is running at {}", app.url);
    println!("  Cloud API simulator: {}", sim.url);
    println!("  everything a script needs: {}", info_path.display());
    println!(
        "  sign in at {}/login as owner@demo.veil; password and 2FA secret are in that file",
        app.url
    );
    println!(
        "  try: curl -H \"Authorization: Bearer $(jq -r .api_token {})\" {}/api/v1/conversations",
        info_path.display(),
        app.url
    );
    let traffic = (!no_traffic).then(|| tokio::spawn(simulated_customers(Arc::new(sim))));
    wait_for_stop_signal().await;
    if let Some(traffic) = traffic {
        traffic.abort();
    }
    app.shutdown().await;
    println!("stopped; data kept in {}", info.data_dir);
    Ok(())
}

/// Demo customers: (number, name, lines in their language).
const CUSTOMERS: &[(&str, &str, &[&str])] = &[
    (
        "14155550101",
        "Emma Johnson",
        &[
            "Hi! Where is my order #4821?",
            "Can I change the delivery address?",
            "Thanks, that helps a lot.",
        ],
    ),
    (
        "4915112345678",
        "Jürgen Müller",
        &[
            "Guten Tag, meine Bestellung ist noch nicht angekommen.",
            "Können Sie mir die Rechnung schicken?",
            "Vielen Dank für die schnelle Hilfe!",
        ],
    ),
    (
        "393331234567",
        "Giulia Rossi",
        &[
            "Buongiorno, vorrei sapere lo stato del mio ordine.",
            "È possibile cambiare la taglia?",
            "Grazie mille!",
        ],
    ),
    (
        "5511987654321",
        "João Silva",
        &[
            "Olá, meu pedido ainda não chegou.",
            "Vocês entregam no sábado?",
            "Obrigado pela ajuda!",
        ],
    ),
    (
        "8613800138000",
        "李伟",
        &["你好，我的订单什么时候发货？", "可以开发票吗？", "谢谢！"],
    ),
    (
        "966501234567",
        "فاطمة العلي",
        &[
            "مرحبا، أين طلبي؟",
            "هل يمكنني تغيير عنوان التوصيل؟",
            "شكرا جزيلا",
        ],
    ),
];

/// Messages the guard flags, written once at start so a newcomer sees it work: a card number
/// (stored masked), a phishing link imitating WhatsApp, and a request for the login code.
const GUARD_SHOWCASE: &[(usize, &str)] = &[
    (
        0,
        "Here is my card for the order: 4111 1111 1111 1111, exp 09/28",
    ),
    (
        3,
        "Aviso urgente: sua conta será bloqueada. Confirme em https://whatsapp-verify.com.br/login",
    ),
    (
        1,
        "Hallo, hier ist der WhatsApp-Support. Schicken Sie mir bitte den Bestätigungscode aus der SMS.",
    ),
];

fn guard_showcase(sim: &cloud_api_sim::SimHandle) {
    for (who, text) in GUARD_SHOWCASE {
        let Some((from, name, _)) = CUSTOMERS.get(*who) else {
            continue;
        };
        let spec = cloud_api_sim::InboundSpec {
            from: (*from).to_owned(),
            name: (*name).to_owned(),
            kind: "text".to_owned(),
            text: (*text).to_owned(),
            context_wamid: None,
            expired_media: false,
            file: None,
        };
        if let Err(err) = sim.customer_writes(&spec) {
            tracing::warn!(error = %err, "simulated customer could not write");
        }
    }
}

async fn simulated_customers(sim: Arc<cloud_api_sim::SimHandle>) {
    let mut last_wamid: Option<String> = None;
    guard_showcase(&sim);
    loop {
        let (spec, pause_ms) = {
            let mut rng = rand::rng();
            let Some((from, name, lines)) = CUSTOMERS.choose(&mut rng) else {
                return;
            };
            let roll: u8 = rng.random_range(0..10);
            let kind = match roll {
                0 => "image",
                1 => "location",
                2 if last_wamid.is_some() => "reaction",
                _ => "text",
            };
            let text = if kind == "reaction" {
                String::new()
            } else {
                (*lines.choose(&mut rng).unwrap_or(&"Hi")).to_owned()
            };
            let spec = cloud_api_sim::InboundSpec {
                from: (*from).to_owned(),
                name: (*name).to_owned(),
                kind: kind.to_owned(),
                text,
                context_wamid: if kind == "reaction" {
                    last_wamid.clone()
                } else {
                    None
                },
                expired_media: false,
                file: None,
            };
            (spec, rng.random_range(2_000..6_000))
        };
        match sim.customer_writes(&spec) {
            Ok(wamid) => last_wamid = Some(wamid),
            Err(err) => tracing::warn!(error = %err, "simulated customer could not write"),
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "demo traffic paces itself in real time; no test depends on it"
        )]
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
}
