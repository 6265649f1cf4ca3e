//! Configuration: one typed value, read once at start-up.
//!
//! Precedence, lowest to highest: defaults, the TOML file (`--config`), `VEIL_*` environment
//! variables (sections joined by `__`, e.g. `VEIL_WHATSAPP__APP_SECRET`), then command-line flags.
//! Every secret may also come from a file named by `<KEY>_FILE` (file or environment), for
//! container secrets. Unknown keys are an error. This is the only module that reads the
//! environment.

mod load;

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use load::{Overrides, load, load_from};

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

/// The role names configuration may name (identity's `Role::ALL`; a test there keeps them equal).
pub const ROLE_NAMES: [&str; 5] = ["owner", "admin", "supervisor", "agent", "auditor"];

/// A CIDR network; a bare address means that one host.
pub fn parse_network(item: &str) -> Option<ipnet::IpNet> {
    item.parse::<ipnet::IpNet>()
        .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .ok()
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
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../veil.example.toml");
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
