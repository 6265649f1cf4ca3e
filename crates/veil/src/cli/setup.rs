//! Process set-up shared by every command: configuration, logging, TLS, the SQLite directory and
//! the stop signal. A leaf: it names nothing else in `cli`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::config::{self, Config, Overrides, Require};

/// Where the installation is.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Configuration file (TOML); see veil.example.toml.
    #[arg(long, global = true, env = "VEIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (database, key file, media). Default ./veil-data.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…); overrides the data directory's database.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

/// Loads the configuration for `global`.
pub fn load_config(
    global: &Global,
    listen: Option<SocketAddr>,
    require: Require,
) -> Result<Config, config::ConfigError> {
    let overrides = Overrides {
        data_dir: global.data_dir.clone(),
        listen,
        database_url: global.database_url.clone(),
    };
    config::load(global.config.as_deref(), &overrides, require)
}

/// Starts the log subscriber once (later calls do nothing).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// reqwest is built without a default TLS provider so that aws-lc-rs stays out; use ring.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Creates the directory of a SQLite database file (0700), so a fresh data dir just works.
pub fn ensure_sqlite_dir(config: &Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
