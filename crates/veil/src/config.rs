//! Configuration: one typed value, read once at start-up.
//!
//! Precedence, lowest to highest: defaults, the TOML file (`--config`), `VEIL_*` environment
//! variables (sections joined by `__`, e.g. `VEIL_WHATSAPP__APP_SECRET`), then command-line flags.
//! Every secret may also come from a file named by `<KEY>_FILE` (file or environment), for
//! container secrets. Unknown keys are an error. This is the only module that reads the
//! environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// A database URL. It can hold a password, so it is a secret: zeroized when dropped, and
/// `Debug` shows the scheme only.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL itself, to open a connection.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.expose().split(':').next().unwrap_or_default();
        write!(f, "DatabaseUrl({scheme}:[redacted])")
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub key_file: PathBuf,
    pub media_dir: PathBuf,
    pub whatsapp: WhatsAppConfig,
    pub outbound: OutboundConfig,
    pub webhook_max_body_bytes: usize,
    pub media_max_bytes: usize,
    /// Uploads read at once; more wait, their bodies unread, so memory stays bounded.
    pub media_max_concurrent_uploads: usize,
    pub log_filter: String,
    /// The URL people reach Veil at (`https://inbox.example.com`). Decides secure cookies and
    /// HSTS, and is the only origin accepted on state-changing browser requests.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies). Empty: nobody's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (slowloris), in seconds.
    pub header_timeout_secs: u64,
    pub auth: AuthConfig,
    /// Networks each role (and `token` for API tokens) may connect from. A role without an entry
    /// may connect from anywhere.
    pub ip_allowlist: std::collections::BTreeMap<String, Vec<ipnet::IpNet>>,
    pub audit: AuditConfig,
    pub alerts: AlertsConfig,
    pub guard: GuardConfig,
}

impl Config {
    /// Whether people reach Veil over TLS (through a proxy or not).
    pub fn tls(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Logins, passwords and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A session unused this long ends.
    pub session_idle_minutes: u64,
    /// A session ends this long after login, used or not.
    pub session_absolute_hours: u64,
    /// Sensitive actions need password and code again if the last check is older than this.
    pub reauth_minutes: u64,
    /// Argon2id cost: memory in KiB, passes, lanes (OWASP's minimum is 19456 / 2 / 1).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; each holds `argon2_memory_kib` of memory.
    pub hash_concurrency: usize,
    /// Logins that may wait for a hashing slot; beyond that the answer is 429.
    pub hash_queue: usize,
    /// Lifetime of a one-time setup link printed by `veil user add`.
    pub setup_link_hours: u64,
    /// The e-mail of the owner created on first start.
    pub first_owner_email: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            reauth_minutes: 5,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_concurrency: 2,
            hash_queue: 32,
            setup_link_hours: 72,
            first_owner_email: "owner@veil.local".into(),
        }
    }
}

/// How Veil reaches Meta, and what it checks on webhooks.
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// Graph API base including the version, e.g. `https://graph.facebook.com/v23.0`.
    pub graph_api_base: String,
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub access_token: SecretString,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    /// Approved message templates (`name:language`) the inbox offers outside the 24-hour window.
    pub templates: Vec<String>,
}

/// Outbox pacing and retries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Sends per second per business number (Meta's default throughput is 80).
    pub messages_per_second: u32,
    /// Messages to one recipient in a burst before pair pacing applies.
    pub pair_burst: u32,
    /// One more message to the same recipient every this many milliseconds.
    pub pair_refill_ms: u64,
    /// Attempts before a retryable error becomes `failed`.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff_ms`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How long an ambiguous send (accepted by Meta or not?) waits for a status webhook before it is sent again.
    pub reconcile_ms: u64,
    /// Timeout of one Graph API call.
    pub request_timeout_ms: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            messages_per_second: 80,
            pair_burst: 6,
            pair_refill_ms: 6_000,
            max_attempts: 10,
            base_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            reconcile_ms: 600_000,
            request_timeout_ms: 20_000,
        }
    }
}

/// The audit log: its name, signing key and checkpoints.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The log's name in checkpoints (signed-note origin), e.g. `inbox.example.com/audit`.
    pub origin: String,
    /// The Ed25519 checkpoint signing key (mode 0600; not an encryption key).
    pub key_file: PathBuf,
    /// Every checkpoint is also appended to this file, outside the database.
    pub checkpoint_file: PathBuf,
    /// A checkpoint is signed this often when the log grew.
    pub checkpoint_seconds: u64,
    /// The whole log is verified this often (and at start); 0: only when asked.
    pub verify_minutes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    origin: Option<String>,
    key_file: Option<PathBuf>,
    checkpoint_file: Option<PathBuf>,
    checkpoint_seconds: Option<u64>,
    verify_minutes: Option<u64>,
}

/// How alert e-mail reaches the SMTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS on port 587 (the default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a relay on this machine.
    None,
}

/// The guard's view of the business. Policies per detector are set in the inbox
/// (Administration → Guard), not here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// The business's own domains: links imitating them are phishing, like the built-in brands.
    pub protected_domains: Vec<String>,
    /// ISO 3166 region (`DE`) for phone numbers written without `+`; empty: only international.
    pub phone_region: String,
    /// The `ClamAV` daemon's Unix socket: inbound media is also scanned there (empty: no scan).
    pub clamd_socket: String,
}

/// Alert rules' thresholds and where alerts are sent. See `veil.example.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// An agent's conversation views in one hour above `max(views_per_hour_min,
    /// views_baseline_factor × their hourly average over baseline_days)` raise an alert.
    pub views_per_hour_min: u64,
    pub views_baseline_factor: u64,
    pub baseline_days: u64,
    /// Working hours per day, to turn a week of views into an hourly average.
    pub working_hours_per_day: u64,
    /// Exports by one actor in one hour.
    pub exports_per_hour: u64,
    /// Phone numbers revealed by one actor in one hour.
    pub reveals_per_hour: u64,
    /// Failed sign-ins for one account within `failed_login_minutes`.
    pub failed_logins: u64,
    pub failed_login_minutes: u64,
    /// Alert on activity outside working hours.
    pub off_hours: bool,
    pub work_start_hour: u8,
    pub work_end_hour: u8,
    /// ISO weekdays (1 = Monday … 7 = Sunday).
    pub working_days: Vec<u8>,
    /// The business's offset from UTC, in minutes (e.g. 60 for CET).
    pub utc_offset_minutes: i32,
    /// Where alert e-mail goes (empty: no e-mail).
    pub email_to: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    pub smtp_from: String,
    pub smtp_username: String,
    #[serde(skip_serializing)]
    pub smtp_password: SecretString,
    /// A file holding `smtp_password` (read at start-up; wins over the value).
    #[serde(skip_serializing)]
    pub smtp_password_file: Option<PathBuf>,
    /// Where alerts are `POST`ed (empty: no webhook), signed with `webhook_secret`.
    pub webhook_url: String,
    #[serde(skip_serializing)]
    pub webhook_secret: SecretString,
    /// A file holding `webhook_secret` (read at start-up; wins over the value).
    #[serde(skip_serializing)]
    pub webhook_secret_file: Option<PathBuf>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            views_per_hour_min: 60,
            views_baseline_factor: 3,
            baseline_days: 7,
            working_hours_per_day: 8,
            exports_per_hour: 3,
            reveals_per_hour: 10,
            failed_logins: 10,
            failed_login_minutes: 15,
            off_hours: true,
            work_start_hour: 7,
            work_end_hour: 20,
            working_days: vec![1, 2, 3, 4, 5],
            utc_offset_minutes: 0,
            email_to: String::new(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: SmtpSecurity::Starttls,
            smtp_from: String::new(),
            smtp_username: String::new(),
            smtp_password: SecretString::from(String::new()),
            smtp_password_file: None,
            webhook_url: String::new(),
            webhook_secret: SecretString::from(String::new()),
            webhook_secret_file: None,
        }
    }
}

/// The file / environment shape. Every field optional so layers can be merged.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    /// `VEIL_DATABASE_URL`: the same as `[database] url`, under the name every platform uses.
    database_url: Option<String>,
    /// `VEIL_DATABASE_URL_FILE`: the same as `[database] url_file`.
    database_url_file: Option<PathBuf>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    whatsapp: RawWhatsApp,
    #[serde(default)]
    outbound: OutboundConfig,
    #[serde(default)]
    webhook: RawWebhook,
    #[serde(default)]
    media: RawMedia,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    alerts: AlertsConfig,
    #[serde(default)]
    guard: GuardConfig,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    #[serde(default)]
    ip_allowlist: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
    url_file: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    file: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhatsApp {
    graph_api_base: Option<String>,
    app_secret: Option<String>,
    app_secret_file: Option<PathBuf>,
    verify_token: Option<String>,
    verify_token_file: Option<PathBuf>,
    access_token: Option<String>,
    access_token_file: Option<PathBuf>,
    phone_number_id: Option<String>,
    display_phone_number: Option<String>,
    waba_id: Option<String>,
    templates: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    max_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    dir: Option<PathBuf>,
    max_bytes: Option<usize>,
    max_concurrent_uploads: Option<usize>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    filter: Option<String>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// What `serve` needs and `demo` fills in itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// Meta credentials must be set (`veil serve`).
    WhatsApp,
    /// Only storage settings are needed (`veil keys`, `veil token`, `veil migrate`, `veil demo`).
    StorageOnly,
}

/// Loads the configuration from `file` (if any), the process environment and `overrides`.
pub fn load(
    file: Option<&Path>,
    overrides: &Overrides,
    require: Require,
) -> Result<Config, ConfigError> {
    #[allow(
        clippy::disallowed_methods,
        reason = "config.rs is the one place that reads the environment"
    )]
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("VEIL_"))
        .collect();
    load_from(file, &env, overrides, require)
}

/// `load` with the environment given explicitly, so tests control it.
pub fn load_from(
    file: Option<&Path>,
    env: &[(String, String)],
    overrides: &Overrides,
    require: Require,
) -> Result<Config, ConfigError> {
    if let Some(file) = file.filter(|f| !f.exists()) {
        return Err(err(
            "--config",
            format!("file {} does not exist", file.display()),
        ));
    }
    let env_map: std::collections::HashMap<String, String> = env.iter().cloned().collect();
    let raw: RawConfig = Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(match file {
            Some(f) => Toml::file(f),
            None => Toml::string(""),
        })
        .merge(Serialized::globals(env_layer(&env_map)?))
        .extract()
        .map_err(|e| figment_error(&e))?;
    finish(raw, &env_map, overrides, require)
}

const NUMERIC_KEYS: &[&str] = &[
    "messages_per_second",
    "pair_burst",
    "pair_refill_ms",
    "max_attempts",
    "base_backoff_ms",
    "max_backoff_ms",
    "reconcile_ms",
    "request_timeout_ms",
    "max_body_bytes",
    "max_bytes",
    "session_idle_minutes",
    "session_absolute_hours",
    "reauth_minutes",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "hash_concurrency",
    "hash_queue",
    "setup_link_hours",
    "checkpoint_seconds",
    "verify_minutes",
    "views_per_hour_min",
    "views_baseline_factor",
    "baseline_days",
    "working_hours_per_day",
    "exports_per_hour",
    "reveals_per_hour",
    "failed_logins",
    "failed_login_minutes",
    "work_start_hour",
    "work_end_hour",
    "utc_offset_minutes",
    "smtp_port",
];

/// The role names configuration may name (identity's `Role::ALL`; a test there keeps them equal).
pub const ROLE_NAMES: [&str; 5] = ["owner", "admin", "supervisor", "agent", "auditor"];

/// A CIDR network; a bare address means that one host.
pub fn parse_network(item: &str) -> Option<ipnet::IpNet> {
    item.parse::<ipnet::IpNet>()
        .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .ok()
}

/// A secret read from a file (container secrets); one trailing newline is not part of it.
fn secret_file(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| SecretString::from(s.trim_end_matches(['\n', '\r']).to_owned()))
        .map_err(|_| err(key, format!("cannot read {}", path.display())))
}

/// Parses CIDR networks (a bare address means that one host).
fn networks(key: &str, items: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .iter()
        .map(|item| {
            parse_network(item).ok_or_else(|| {
                err(
                    key,
                    format!("{item:?} is not a network like 10.0.0.0/8 or 2001:db8::/32"),
                )
            })
        })
        .collect()
}

/// Turns `VEIL_SECTION__KEY=value` pairs into a nested TOML-like value (all strings parsed as TOML scalars).
fn env_layer(
    env: &std::collections::HashMap<String, String>,
) -> Result<figment::value::Dict, ConfigError> {
    use figment::value::{Dict, Value};
    let mut root = Dict::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("VEIL_") else {
            continue;
        };
        if rest == "CONFIG" {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        // Numbers only where the key is numeric, so that a secret such as "12345" stays a string.
        let numeric = path
            .last()
            .is_some_and(|k| NUMERIC_KEYS.contains(&k.as_str()));
        let parsed = match value.parse::<u64>() {
            Ok(number) if numeric => Value::from(number),
            _ => Value::from(value.clone()),
        };
        insert_path(&mut root, &path, parsed)
            .map_err(|()| err(name, "conflicts with another variable"))?;
    }
    Ok(root)
}

fn insert_path(
    dict: &mut figment::value::Dict,
    path: &[String],
    value: figment::value::Value,
) -> Result<(), ()> {
    use figment::value::{Dict, Value};
    match path {
        [] => Err(()),
        [last] => {
            dict.insert(last.clone(), value);
            Ok(())
        }
        [head, tail @ ..] => {
            let entry = dict
                .entry(head.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            match entry {
                Value::Dict(_, inner) => insert_path(inner, tail, value),
                _ => Err(()),
            }
        }
    }
}

fn figment_error(e: &figment::Error) -> ConfigError {
    let key = if e.path.is_empty() {
        "(file)".to_owned()
    } else {
        e.path.join(".")
    };
    err(&key, e.kind.to_string())
}

#[allow(
    clippy::too_many_lines,
    reason = "one validation list, key by key, so each error names its key"
)]
fn finish(
    raw: RawConfig,
    env: &std::collections::HashMap<String, String>,
    overrides: &Overrides,
    require: Require,
) -> Result<Config, ConfigError> {
    let data_dir = overrides
        .data_dir
        .clone()
        .or(raw.data_dir)
        .unwrap_or_else(|| PathBuf::from("./veil-data"));
    let listen_text = raw.server.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = match overrides.listen {
        Some(addr) => addr,
        None => listen_text
            .parse()
            .map_err(|_| err("server.listen", "must be an address like 127.0.0.1:8080"))?,
    };
    let url_file = raw.database_url_file.or(raw.database.url_file);
    let database_url = match (overrides.database_url.clone(), url_file) {
        (Some(url), _) => url,
        (None, Some(path)) => secret_file("database.url_file", &path)?
            .expose_secret()
            .to_owned(),
        (None, None) => raw
            .database_url
            .or(raw.database.url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("veil.db").display())),
    };
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(err(
            "database.url",
            "must start with sqlite: or postgres://",
        ));
    }
    let database_url = DatabaseUrl::new(database_url);
    let w = raw.whatsapp;
    let secret = |key: &str,
                  value: Option<String>,
                  file: Option<PathBuf>|
     -> Result<Option<SecretString>, ConfigError> {
        let env_file = env
            .get(&format!("VEIL_WHATSAPP__{}_FILE", key.to_ascii_uppercase()))
            .map(PathBuf::from);
        match env_file.or(file) {
            Some(path) => secret_file(&format!("whatsapp.{key}_file"), &path).map(Some),
            None => Ok(value.map(SecretString::from)),
        }
    };
    let app_secret = secret("app_secret", w.app_secret, w.app_secret_file)?;
    let verify_token = secret("verify_token", w.verify_token, w.verify_token_file)?;
    let access_token = secret("access_token", w.access_token, w.access_token_file)?;
    let graph_api_base = w
        .graph_api_base
        .unwrap_or_else(|| "https://graph.facebook.com/v23.0".into());
    if require == Require::WhatsApp {
        for (key, present) in [
            (
                "whatsapp.app_secret",
                app_secret
                    .as_ref()
                    .is_some_and(|s| !s.expose_secret().is_empty()),
            ),
            (
                "whatsapp.verify_token",
                verify_token
                    .as_ref()
                    .is_some_and(|s| !s.expose_secret().is_empty()),
            ),
            (
                "whatsapp.access_token",
                access_token
                    .as_ref()
                    .is_some_and(|s| !s.expose_secret().is_empty()),
            ),
            (
                "whatsapp.phone_number_id",
                w.phone_number_id.as_ref().is_some_and(|s| !s.is_empty()),
            ),
        ] {
            if !present {
                return Err(err(
                    key,
                    "must be set (in the file, as VEIL_ env variable, or as a _FILE)",
                ));
            }
        }
        if !(graph_api_base.starts_with("https://")
            || graph_api_base.starts_with("http://127.0.0.1")
            || graph_api_base.starts_with("http://localhost"))
        {
            return Err(err(
                "whatsapp.graph_api_base",
                "must be https:// (plain http only for 127.0.0.1 / localhost)",
            ));
        }
    }
    let outbound = raw.outbound;
    if outbound.messages_per_second == 0 || outbound.pair_burst == 0 || outbound.max_attempts == 0 {
        return Err(err(
            "outbound",
            "messages_per_second, pair_burst and max_attempts must be at least 1",
        ));
    }
    let auth = raw.auth;
    if auth.hash_concurrency == 0
        || auth.session_idle_minutes == 0
        || auth.session_absolute_hours == 0
        || auth.argon2_memory_kib < 19_456
        || auth.argon2_iterations < 2
        || auth.argon2_parallelism == 0
    {
        return Err(err(
            "auth",
            "hash_concurrency and session lifetimes must be at least 1; Argon2 at least 19456 KiB, 2 passes, 1 lane (OWASP)",
        ));
    }
    let public_url = raw
        .server
        .public_url
        .unwrap_or_else(|| format!("http://{listen}"))
        .trim_end_matches('/')
        .to_owned();
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        return Err(err(
            "server.public_url",
            "must start with https:// or http://",
        ));
    }
    let trusted_proxies = networks(
        "server.trusted_proxies",
        &raw.server.trusted_proxies.unwrap_or_default(),
    )?;
    let max_connections = raw.server.max_connections.unwrap_or(4096);
    if !(1..=1_000_000).contains(&max_connections) {
        return Err(err(
            "server.max_connections",
            "must be between 1 and 1000000",
        ));
    }
    let header_timeout_secs = raw.server.header_timeout_secs.unwrap_or(10);
    if !(1..=600).contains(&header_timeout_secs) {
        return Err(err(
            "server.header_timeout_secs",
            "must be between 1 and 600",
        ));
    }
    let mut ip_allowlist = std::collections::BTreeMap::new();
    for (role, items) in &raw.access.ip_allowlist {
        let key = format!("access.ip_allowlist.{role}");
        if !ROLE_NAMES.contains(&role.as_str()) && role != "token" {
            return Err(err(
                &key,
                "is not a role (owner, admin, supervisor, agent, auditor) or token",
            ));
        }
        ip_allowlist.insert(role.clone(), networks(&key, items)?);
    }
    let mut alerts = raw.alerts;
    if let Some(path) = alerts.smtp_password_file.take() {
        alerts.smtp_password = secret_file("alerts.smtp_password_file", &path)?;
    }
    if let Some(path) = alerts.webhook_secret_file.take() {
        alerts.webhook_secret = secret_file("alerts.webhook_secret_file", &path)?;
    }
    if alerts.work_start_hour > 24
        || alerts.work_end_hour > 24
        || alerts.working_days.iter().any(|d| !(1..=7).contains(d))
    {
        return Err(err(
            "alerts",
            "hours are 0 to 24 and working_days 1 (Monday) to 7 (Sunday)",
        ));
    }
    if !alerts.email_to.is_empty() && (alerts.smtp_host.is_empty() || alerts.smtp_from.is_empty()) {
        return Err(err("alerts.email_to", "needs smtp_host and smtp_from"));
    }
    if !alerts.webhook_url.is_empty() && alerts.webhook_secret.expose_secret().len() < 16 {
        return Err(err(
            "alerts.webhook_secret",
            "must be at least 16 characters when webhook_url is set",
        ));
    }
    let guard = raw.guard;
    if !guard.phone_region.is_empty()
        && guard
            .phone_region
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .is_err()
    {
        return Err(err(
            "guard.phone_region",
            "is not an ISO 3166 region such as DE",
        ));
    }
    let audit = AuditConfig {
        origin: raw.audit.origin.unwrap_or_else(|| {
            let host = public_url.split("://").nth(1).unwrap_or("veil");
            format!("{host}/audit")
        }),
        key_file: raw
            .audit
            .key_file
            .unwrap_or_else(|| data_dir.join("audit-signing.key")),
        checkpoint_file: raw
            .audit
            .checkpoint_file
            .unwrap_or_else(|| data_dir.join("audit-checkpoints.txt")),
        checkpoint_seconds: raw.audit.checkpoint_seconds.unwrap_or(300).max(1),
        verify_minutes: raw.audit.verify_minutes.unwrap_or(60),
    };
    Ok(Config {
        audit,
        alerts,
        guard,
        public_url,
        trusted_proxies,
        max_connections,
        header_timeout_secs,
        auth,
        ip_allowlist,
        listen,
        database_url,
        key_file: raw.keys.file.unwrap_or_else(|| data_dir.join("master.key")),
        media_dir: raw.media.dir.unwrap_or_else(|| data_dir.join("media")),
        whatsapp: WhatsAppConfig {
            graph_api_base: graph_api_base.trim_end_matches('/').to_owned(),
            app_secret: app_secret.unwrap_or_else(|| SecretString::from(String::new())),
            verify_token: verify_token.unwrap_or_else(|| SecretString::from(String::new())),
            access_token: access_token.unwrap_or_else(|| SecretString::from(String::new())),
            phone_number_id: w.phone_number_id.unwrap_or_default(),
            display_phone_number: w.display_phone_number.unwrap_or_default(),
            waba_id: w.waba_id.unwrap_or_default(),
            templates: w
                .templates
                .unwrap_or_else(|| vec!["hello_world:en_US".into()]),
        },
        outbound,
        webhook_max_body_bytes: raw.webhook.max_body_bytes.unwrap_or(1024 * 1024),
        media_max_bytes: raw.media.max_bytes.unwrap_or(100 * 1024 * 1024),
        media_max_concurrent_uploads: raw.media.max_concurrent_uploads.unwrap_or(1).clamp(1, 64),
        log_filter: raw.log.filter.unwrap_or_else(|| "info".into()),
        data_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const FULL: &str = r#"
[whatsapp]
app_secret = "file-secret"
verify_token = "vt"
access_token = "at"
phone_number_id = "123"
"#;

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../veil.example.toml");
        let config = load_from(Some(&path), &[], &Overrides::default(), Require::WhatsApp).unwrap();
        assert_eq!(config.outbound.messages_per_second, 80);
    }

    #[test]
    fn precedence_is_default_then_file_then_env_then_flags() {
        let file = toml_file(&format!(
            "{FULL}\n[server]\nlisten = \"127.0.0.1:9000\"\n[outbound]\nmessages_per_second = 20\n"
        ));
        let c = load_from(
            Some(file.path()),
            &[],
            &Overrides::default(),
            Require::WhatsApp,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.outbound.messages_per_second, 20);
        assert_eq!(
            c.outbound.pair_burst, 6,
            "defaults fill what the file leaves out"
        );
        let e = env(&[
            ("VEIL_SERVER__LISTEN", "127.0.0.1:9100"),
            ("VEIL_OUTBOUND__MESSAGES_PER_SECOND", "30"),
            ("VEIL_WHATSAPP__APP_SECRET", "env-secret"),
        ]);
        let c = load_from(
            Some(file.path()),
            &e,
            &Overrides::default(),
            Require::WhatsApp,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.outbound.messages_per_second, 30);
        assert_eq!(c.whatsapp.app_secret.expose_secret(), "env-secret");
        let flags = Overrides {
            listen: Some("127.0.0.1:9200".parse().unwrap()),
            ..Overrides::default()
        };
        let c = load_from(Some(file.path()), &e, &flags, Require::WhatsApp).unwrap();
        assert_eq!(c.listen.port(), 9200);
    }

    #[test]
    fn secrets_can_come_from_files() {
        let secret = toml_file("from-a-file\n");
        let file = toml_file(FULL);
        let e = env(&[(
            "VEIL_WHATSAPP__APP_SECRET_FILE",
            secret.path().to_str().unwrap(),
        )]);
        let c = load_from(
            Some(file.path()),
            &e,
            &Overrides::default(),
            Require::WhatsApp,
        )
        .unwrap();
        assert_eq!(c.whatsapp.app_secret.expose_secret(), "from-a-file");
        assert!(
            !format!("{c:?}").contains("from-a-file"),
            "secrets must print redacted"
        );
    }

    #[test]
    fn every_secret_can_come_from_a_file_and_none_prints() {
        let smtp = toml_file("smtp-pass-from-file\n");
        let hook = toml_file("webhook-secret-from-a-file\n");
        let url = toml_file("postgres://veil:db-pass-from-file@db/veil\n");
        let e = env(&[
            (
                "VEIL_ALERTS__SMTP_PASSWORD_FILE",
                smtp.path().to_str().unwrap(),
            ),
            (
                "VEIL_ALERTS__WEBHOOK_SECRET_FILE",
                hook.path().to_str().unwrap(),
            ),
            ("VEIL_ALERTS__WEBHOOK_URL", "https://alerts.example/hook"),
            ("VEIL_DATABASE_URL_FILE", url.path().to_str().unwrap()),
        ]);
        let c = load_from(None, &e, &Overrides::default(), Require::StorageOnly).unwrap();
        assert_eq!(
            c.alerts.smtp_password.expose_secret(),
            "smtp-pass-from-file"
        );
        assert_eq!(
            c.alerts.webhook_secret.expose_secret(),
            "webhook-secret-from-a-file"
        );
        assert_eq!(
            c.database_url.expose(),
            "postgres://veil:db-pass-from-file@db/veil"
        );
        let printed = format!("{c:?}");
        for secret in [
            "smtp-pass-from-file",
            "webhook-secret-from-a-file",
            "db-pass-from-file",
        ] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
        let file = toml_file("[database]\nurl_file = \"/nonexistent/veil-url\"\n");
        let e = load_from(
            Some(file.path()),
            &env(&[]),
            &Overrides::default(),
            Require::StorageOnly,
        )
        .unwrap_err();
        assert!(e.to_string().contains("database.url_file"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[whatsapp]\nap_secret = \"typo\"\n", "whatsapp"),
            (
                "[outbound]\nmessages_per_second = \"fast\"\n",
                "outbound.messages_per_second",
            ),
            ("[server]\nlisten = \"nowhere\"\n", "server.listen"),
            ("", "whatsapp.app_secret"),
        ];
        for (text, key) in cases {
            let file = toml_file(text);
            let e = load_from(
                Some(file.path()),
                &[],
                &Overrides::default(),
                Require::WhatsApp,
            )
            .unwrap_err();
            assert!(e.to_string().contains(key), "{text:?} gave {e}");
        }
        let e = load_from(
            None,
            &env(&[("VEIL_DATABASE__URL", "mysql://x")]),
            &Overrides::default(),
            Require::StorageOnly,
        )
        .unwrap_err();
        assert_eq!(e.key, "database.url");
        let c = load_from(
            None,
            &env(&[("VEIL_DATABASE_URL", "postgres://veil@db/veil")]),
            &Overrides::default(),
            Require::StorageOnly,
        )
        .unwrap();
        assert_eq!(
            c.database_url.expose(),
            "postgres://veil@db/veil",
            "VEIL_DATABASE_URL selects the database like [database] url"
        );
    }

    #[test]
    fn data_dir_places_database_keys_and_media() {
        let flags = Overrides {
            data_dir: Some(PathBuf::from("/tmp/d")),
            ..Overrides::default()
        };
        let c = load_from(None, &[], &flags, Require::StorageOnly).unwrap();
        assert_eq!(c.database_url.expose(), "sqlite:///tmp/d/veil.db");
        assert_eq!(c.key_file, PathBuf::from("/tmp/d/master.key"));
        assert_eq!(c.media_dir, PathBuf::from("/tmp/d/media"));
    }
}
