//! The command line. Every command finds its installation the same way: `--config FILE`,
//! `--data-dir DIR` (or `--database-url`), or the `VEIL_*` environment.

pub mod bench;
pub mod demo;
pub mod guard;
pub mod seed;
pub mod setup;

pub use setup::{
    Global, ensure_sqlite_dir, init_logging, install_tls_provider, load_config,
    wait_for_stop_signal,
};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::audit::AuditLog;
use crate::clock::{Clock, SystemClock};
use crate::config::Require;
use crate::identity::{Identity, Permission, Permissions, Role, STATUS_ACTIVE, STATUS_DISABLED};
use crate::store::UserChange;

/// Veil: a self-hosted, privacy-first WhatsApp Business inbox.
#[derive(Debug, Parser)]
#[command(name = "veil", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Veil for real: Meta's Graph API, your app secret and tokens.
    Serve {
        /// Listen address, e.g. 0.0.0.0:8080.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Run Veil with the built-in Cloud API simulator and simulated customers.
    Demo {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// No simulated customers.
        #[arg(long)]
        no_traffic: bool,
    },
    /// Run the Cloud API simulator alone.
    Sim(cloud_api_sim::SimArgs),
    /// Apply database migrations (safe when several nodes start at once: PostgreSQL migrations
    /// run under an advisory lock).
    Migrate,
    /// Move an installation from SQLite to PostgreSQL: every row, ciphertext untouched, in one
    /// transaction. The key file and media directory stay where they are; point the nodes at the
    /// new database afterwards.
    MigrateData {
        /// The SQLite database, e.g. `sqlite://veil-data/veil.db`.
        #[arg(long)]
        from: String,
        /// An empty PostgreSQL database, e.g. `postgres://veil@db/veil`.
        #[arg(long)]
        to: String,
    },
    /// The audit log: verify it, print a checkpoint, prove an entry.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Master keys: create, rotate, retire, show.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// API tokens for scripts and integrations.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// People who use the inbox.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Print the permission matrix (docs/permissions.md) from the code.
    Permissions,
    /// Fill a database with synthetic conversations for trying Veil at scale (`veil bench pages`).
    Seed(crate::cli::seed::SeedArgs),
    /// The guard: scan JSON lines, or measure accuracy and speed on the evaluation corpus.
    Guard {
        #[command(subcommand)]
        action: GuardCommand,
    },
    /// Benchmarks of the hot paths.
    Bench {
        #[command(subcommand)]
        action: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the key file (mode 0600) if it does not exist.
    Init,
    /// Add a master key version and re-seal every data key under it (online).
    Rotate,
    /// Remove an old master key version once nothing uses it.
    Retire {
        #[arg(long)]
        version: u32,
    },
    /// Show master key versions and how many data keys each seals.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        #[arg(long, default_value = "cli")]
        name: String,
        /// A permission the token carries (repeat for several), e.g. conversation.read.all.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Days until the token stops working (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a one-time link where they choose a password and set up 2FA.
    Add {
        #[arg(long)]
        email: String,
        /// owner, admin, supervisor, agent or auditor.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// auto (the browser's), en, de, it, pt, zh or ar.
        #[arg(long, default_value = "auto")]
        language: String,
    },
    /// List users.
    List,
    /// Disable a user: every session ends now, sign-in is refused.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Forget a user's second factor; they enroll again at their next sign-in.
    #[command(name = "reset-2fa")]
    Reset2fa {
        #[arg(long)]
        email: String,
    },
    /// Lift the sign-in lock of an account (after too many wrong passwords).
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// End every session of a user.
    Logout {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recomputes the tree, checks every checkpoint's signature and root, and names the first
    /// wrong entry. Exit status 1 when anything is wrong.
    Verify {
        /// A checkpoint kept elsewhere (from `veil audit checkpoint`): the log must extend it.
        #[arg(long)]
        against: Option<PathBuf>,
    },
    /// Signs the current tree head (if it grew) and prints the latest checkpoint.
    Checkpoint,
    /// Prints an inclusion proof of entry N (JSON) that a third party can check.
    Proof {
        #[arg(long)]
        entry: i64,
    },
    /// Prints the verifier key of the checkpoints (signed-note format).
    Key,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Read `{"id": …, "text": …}` lines on stdin; write `{"id", "findings", "risk"}` lines.
    Scan(crate::cli::guard::ScanArgs),
    /// Generate the labelled corpus; print precision, recall and speed. Fails below the bars.
    Eval(crate::cli::guard::EvalArgs),
    /// Re-screen every stored message under the policy in force (masks values stored before).
    Rescreen,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Signed webhooks over HTTP into a fresh Veil; prints messages/s and latency.
    Ingest(crate::cli::bench::IngestArgs),
    /// Seal and open throughput of the envelope encryption.
    Crypto,
    /// Password hashing (Argon2id, bounded) and second-factor checks.
    Auth,
    /// Audit appends (group-committed, concurrent callers) and inclusion proofs, on an empty log.
    Audit(crate::cli::bench::AuditArgs),
    /// Inbox list and conversation pages over HTTP against a `veil seed` database.
    Pages(crate::cli::bench::PagesArgs),
    /// CPU-seconds of the server per 10,000 durable webhooks, the load (wrk or `bench load`)
    /// in another process on another core; at saturation or a fixed rate.
    Cost(crate::cli::bench::CostArgs),
    /// Drives a running Veil with signed webhooks from this process (used by `bench cost`).
    Load(crate::cli::bench::LoadArgs),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    install_tls_provider();
    match cli.command {
        Command::Serve { listen } => serve(&cli.global, listen).await,
        Command::Demo { port, no_traffic } => {
            crate::cli::demo::run(&cli.global, port, no_traffic).await
        }
        Command::Sim(args) => {
            init_logging("info");
            let (config, listen) = args.into_config();
            let sim = cloud_api_sim::spawn(config, listen).await?;
            println!(
                "Cloud API simulator on {}  (Graph API base: {}/v23.0)",
                sim.url, sim.url
            );
            wait_for_stop_signal().await;
            sim.stop();
            Ok(())
        }
        Command::Migrate => {
            let config = load_config(&cli.global, None, Require::StorageOnly)?;
            ensure_sqlite_dir(&config)?;
            crate::store::open(config.database_url.expose())
                .await?
                .migrate()
                .await?;
            println!("migrations applied");
            Ok(())
        }
        Command::MigrateData { from, to } => migrate_data(&from, &to).await,
        Command::Audit { action } => audit(&cli.global, action).await,
        Command::Keys { action } => keys(&cli.global, action).await,
        Command::Token { action } => token(&cli.global, action).await,
        Command::User { action } => user(&cli.global, action).await,
        Command::Permissions => {
            print!("{}", crate::http::routes::permissions_markdown());
            Ok(())
        }
        Command::Seed(args) => crate::cli::seed::seed(&cli.global, args).await,
        Command::Guard { action } => match action {
            GuardCommand::Scan(args) => crate::cli::guard::scan(&cli.global, &args),
            GuardCommand::Eval(args) => crate::cli::guard::eval(&args),
            GuardCommand::Rescreen => crate::cli::guard::rescreen(&cli.global).await,
        },
        Command::Bench { action } => match action {
            BenchCommand::Ingest(args) => crate::cli::bench::ingest(&cli.global, args).await,
            BenchCommand::Crypto => crate::cli::bench::crypto(),
            BenchCommand::Audit(args) => crate::cli::bench::audit(&cli.global, args).await,
            BenchCommand::Auth => crate::cli::bench::auth().await,
            BenchCommand::Pages(args) => crate::cli::bench::pages(&cli.global, args).await,
            BenchCommand::Cost(args) => crate::cli::bench::cost(&cli.global, args).await,
            BenchCommand::Load(args) => crate::cli::bench::load(args).await,
        },
    }
}

/// `veil migrate-data`: both databases to the latest schema, then the copy.
async fn migrate_data(from: &str, to: &str) -> anyhow::Result<()> {
    use crate::store::Store as _;
    let Some(rest) = from.strip_prefix("sqlite:") else {
        anyhow::bail!("--from must be a sqlite:// URL");
    };
    let path = rest
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if !std::path::Path::new(path).is_file() {
        anyhow::bail!("--from: no SQLite database at {path}");
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let source = crate::store::SqlStore::connect(from).await?;
    let target = crate::store::SqlStore::connect(to).await?;
    source.migrate().await?;
    target.migrate().await?;
    let report = crate::store::copy_database(&source, &target).await?;
    let rows: u64 = report.iter().map(|(_, n)| n).sum();
    for (table, n) in &report {
        println!("{table}: {n} rows");
    }
    println!(
        "copied {rows} rows of {} tables; run `veil audit verify` against the new database, then start Veil with it",
        report.len()
    );
    source.close().await;
    target.close().await;
    Ok(())
}

async fn serve(global: &Global, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let config = load_config(global, listen, Require::WhatsApp)?;
    init_logging(&config.log_filter);
    ensure_sqlite_dir(&config)?;
    crate::keys::read_keyring(&config.key_file)
        .map_err(|e| anyhow::anyhow!("{e} (create one with `veil keys init`)"))?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = crate::app::start(
        config,
        listener,
        crate::app::AppOptions {
            clock,
            background_workers: true,
            bootstrap_owner: true,
        },
    )
    .await?;
    tracing::info!(url = %app.url, "veil is serving");
    println!("Veil is serving on {}", app.url);
    wait_for_stop_signal().await;
    app.shutdown().await;
    Ok(())
}

async fn audit(global: &Global, action: AuditCommand) -> anyhow::Result<()> {
    let config = load_config(global, None, Require::StorageOnly)?;
    ensure_sqlite_dir(&config)?;
    let store = crate::store::open(config.database_url.expose()).await?;
    store.migrate().await?;
    let audit = AuditLog::start(
        store,
        Arc::new(SystemClock),
        &crate::audit::AuditSetup::from_config(&config),
    )
    .await?;
    match action {
        AuditCommand::Verify { against } => {
            let against = match against {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let report = audit.verify(against.as_deref()).await?;
            match &report.problem {
                None => {
                    use base64::Engine as _;
                    println!(
                        "ok: {} entries, {} signed checkpoints, root {}",
                        report.entries,
                        report.checkpoints,
                        base64::engine::general_purpose::STANDARD.encode(report.root)
                    );
                    Ok(())
                }
                Some(problem) => {
                    if let Some(entry) = report.first_bad_entry {
                        println!("first wrong entry: {entry}");
                    }
                    anyhow::bail!("audit log verification failed: {problem}")
                }
            }
        }
        AuditCommand::Checkpoint => {
            let checkpoint = audit.checkpoint().await?;
            print!("{}", checkpoint.note);
            Ok(())
        }
        AuditCommand::Proof { entry } => {
            let proof = audit.proof(entry).await?;
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(())
        }
        AuditCommand::Key => {
            println!("{}", audit.verifier().to_text());
            Ok(())
        }
    }
}

async fn keys(global: &Global, action: KeysCommand) -> anyhow::Result<()> {
    let config = load_config(global, None, Require::StorageOnly)?;
    ensure_sqlite_dir(&config)?;
    if let KeysCommand::Init = action {
        let created = crate::keys::init_keyring(&config.key_file)?;
        println!(
            "{} {}",
            if created {
                "created"
            } else {
                "already exists:"
            },
            config.key_file.display()
        );
        return Ok(());
    }
    let store = crate::store::open(config.database_url.expose()).await?;
    store.migrate().await?;
    match action {
        KeysCommand::Init => {}
        KeysCommand::Rotate => {
            let audit = AuditLog::start(
                store.clone(),
                Arc::new(SystemClock),
                &crate::audit::AuditSetup::from_config(&config),
            )
            .await?;
            audit
                .record(crate::audit::AuditEvent::system(
                    "cli",
                    "keys.rotate",
                    "master_key",
                ))
                .await?;
            let report = crate::keys::rotate(&config.key_file, store.as_ref()).await?;
            println!(
                "master key version {} is current; re-sealed {} data keys",
                report.new_version, report.resealed
            );
        }
        KeysCommand::Retire { version } => {
            crate::keys::retire(&config.key_file, store.as_ref(), version).await?;
            println!("master key version {version} retired");
        }
        KeysCommand::Status => {
            let keyring = crate::keys::read_keyring(&config.key_file)?;
            println!("key file: {}", config.key_file.display());
            println!("current version: {}", keyring.current_version());
            let in_use = store.key_versions_in_use().await?;
            for version in keyring.versions() {
                let count = in_use
                    .iter()
                    .find(|(v, _)| *v == i64::from(version))
                    .map_or(0, |(_, c)| *c);
                println!("version {version}: seals {count} data keys");
            }
        }
    }
    Ok(())
}

/// The identity service over the configured store, for the command line.
async fn open_identity(global: &Global) -> anyhow::Result<Identity> {
    let config = load_config(global, None, Require::StorageOnly)?;
    ensure_sqlite_dir(&config)?;
    let store = crate::store::open(config.database_url.expose()).await?;
    store.migrate().await?;
    let keys = crate::keys::Keys::load(&config.key_file, store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("{e} (create one with `veil keys init`)"))?;
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(SystemClock);
    let audit = AuditLog::start(
        store.clone(),
        clock.clone(),
        &crate::audit::AuditSetup::from_config(&config),
    )
    .await?;
    Ok(Identity::new(store, keys, clock, Arc::new(config), audit)?)
}

async fn token(global: &Global, action: TokenCommand) -> anyhow::Result<()> {
    let identity = open_identity(global).await?;
    let now = identity.now();
    match action {
        TokenCommand::Create {
            name,
            scopes,
            expires_days,
        } => {
            let scopes = Permissions::parse_names(&scopes.join(" ")).map_err(|name| {
                anyhow::anyhow!(
                    "unknown scope {name:?}; scopes are: {}",
                    Permissions::of(&Permission::ALL).to_names()
                )
            })?;
            let expires_at = expires_days.map(|d| now + i64::from(d) * 86_400_000);
            let (row, secret) = identity
                .create_token(None, &name, scopes, expires_at)
                .await?;
            println!("token id: {}", row.id);
            println!("scopes: {}", row.scopes);
            println!(
                "token (shown once, store it safely): {}",
                secret.expose_text()
            );
        }
        TokenCommand::List => {
            for t in identity.list_api_tokens().await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}  {}  {}  [{}]", t.id, t.name, state, t.scopes);
            }
        }
        TokenCommand::Revoke { id } => {
            let revoked = identity.revoke_token(None, &id).await?;
            println!(
                "{}",
                if revoked {
                    "revoked"
                } else {
                    "no such active token"
                }
            );
        }
    }
    Ok(())
}

/// What `veil user …` does to one user.
enum UserOp {
    Change(UserChange, &'static str),
    Unlock,
    Logout,
}

async fn user(global: &Global, action: UserCommand) -> anyhow::Result<()> {
    let identity = open_identity(global).await?;
    let (email, change, done) = match action {
        UserCommand::Add {
            email,
            role,
            name,
            language,
        } => {
            return add_user(&identity, &email, &role, name, &language).await;
        }
        UserCommand::List => return list_users(&identity).await,
        UserCommand::Unlock { email } => (email, UserOp::Unlock, "unlocked"),
        UserCommand::Logout { email } => (email, UserOp::Logout, "sessions ended"),
        UserCommand::Disable { email } => (
            email,
            UserOp::Change(UserChange::Status(STATUS_DISABLED.into()), "user.disable"),
            "disabled; every session ended",
        ),
        UserCommand::Enable { email } => (
            email,
            UserOp::Change(UserChange::Status(STATUS_ACTIVE.into()), "user.enable"),
            "enabled",
        ),
        UserCommand::Reset2fa { email } => (
            email,
            UserOp::Change(UserChange::ResetSecondFactor, "user.reset_2fa"),
            "second factor reset; they enroll again at their next sign-in",
        ),
    };
    let user = identity
        .user_by_email(&crate::identity::normalise_email(&email))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with that e-mail"))?;
    // Every change is recorded (as `cli`) before it is done.
    match change {
        UserOp::Change(change, action) => {
            identity
                .administer_user(None, &user.id, &change, action)
                .await?;
        }
        UserOp::Unlock => identity.unlock(None, &user.id).await?,
        UserOp::Logout => {
            identity.logout_user(None, &user.id).await?;
        }
    }
    println!("{done}");
    Ok(())
}

async fn list_users(identity: &Identity) -> anyhow::Result<()> {
    for u in identity.list_users().await? {
        let second = if u.totp_secret_ct.is_some() {
            "2fa"
        } else {
            "no 2fa yet"
        };
        println!(
            "{}  {}  {}  {}  {}",
            u.id, u.email, u.role, u.status, second
        );
    }
    Ok(())
}

async fn add_user(
    identity: &Identity,
    email: &str,
    role: &str,
    name: Option<String>,
    language: &str,
) -> anyhow::Result<()> {
    let role = Role::parse(role).ok_or_else(|| {
        anyhow::anyhow!("role must be owner, admin, supervisor, agent or auditor")
    })?;
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
    let config = identity.config();
    let created = identity
        .create_user(None, email, &name, role, language)
        .await?;
    println!(
        "user {} ({}) added as {}",
        created.user.email, created.user.id, created.user.role
    );
    println!(
        "one-time setup link, valid {} hours (give it to them privately):\n{}/setup/{}",
        config.auth.setup_link_hours,
        config.public_url,
        created.setup_secret.expose_text()
    );
    Ok(())
}
