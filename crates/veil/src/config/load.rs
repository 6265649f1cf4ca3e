//! Reading the configuration: defaults, the TOML file, `VEIL_*` variables, `_FILE` secrets and
//! command-line flags merged by figment into the file's shape (`Raw*`), then checked and turned
//! into the typed `Config` (`finish`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    AlertsConfig, AuditConfig, AuthConfig, Config, ConfigError, DatabaseUrl, GuardConfig,
    OutboundConfig, ROLE_NAMES, Require, WhatsAppConfig, err, parse_network,
};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    origin: Option<String>,
    key_file: Option<PathBuf>,
    checkpoint_file: Option<PathBuf>,
    checkpoint_seconds: Option<u64>,
    verify_minutes: Option<u64>,
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

/// Loads the configuration from `file` (if any), the process environment and `overrides`.
pub fn load(
    file: Option<&Path>,
    overrides: &Overrides,
    require: Require,
) -> Result<Config, ConfigError> {
    #[allow(
        clippy::disallowed_methods,
        reason = "config/load.rs is the one place that reads the environment"
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
