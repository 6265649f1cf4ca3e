//! `veil bench pages`: the inbox pages against a seeded database, as a signed-in agent sees them.

use secrecy::SecretString;

use super::{measure, start_offline};
use crate::cli::setup::{Global, load_config};
use crate::clock::{Clock, SystemClock};
use crate::config::Require;

/// Options of `veil bench pages`.
#[derive(Debug, Clone, clap::Args)]
pub struct PagesArgs {
    /// Requests per page kind.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
}

/// Signs a seeded user in through the domain (password, then a TOTP code), with credentials set
/// for the run; returns the `Cookie` header value of the full session.
async fn bench_session(state: &crate::state::AppState, email: &str) -> anyhow::Result<String> {
    use crate::identity::totp::TotpSecret;
    let identity = &state.identity;
    let user = state.store.user_by_email(email).await?.ok_or_else(|| {
        anyhow::anyhow!("{email} is missing: run `veil seed` on this data directory first")
    })?;
    let password = SecretString::from(format!(
        "bench lantern {} orchard",
        uuid::Uuid::now_v7().simple()
    ));
    identity.set_password(&user.id, &password).await?;
    let secret = TotpSecret::generate();
    identity.enroll_directly(&user.id, &secret).await?;
    let client = crate::identity::Client::new([127, 0, 0, 1].into(), Some("veil bench"));
    let pending = identity.login(email, &password, &client, None).await?;
    let (session, user) = identity
        .session(pending.secret.expose_text(), &client)
        .await?;
    let code = secret
        .code_at(SystemClock.now_ms() / 1000)
        .ok_or_else(|| anyhow::anyhow!("totp"))?;
    let full = identity
        .second_factor(&session, &user, &code, &client)
        .await?;
    let cookie =
        crate::http::access::session_cookie(state.config.tls(), full.session.secret.expose_text());
    Ok(cookie
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// `veil bench pages`: the inbox list and conversation pages, rendered by the server over HTTP,
/// against a database made by `veil seed` (same `--data-dir` / `--database-url`).
#[allow(
    clippy::too_many_lines,
    reason = "the page kinds are listed in place, one per line"
)]
pub async fn pages(global: &Global, args: PagesArgs) -> anyhow::Result<()> {
    let config = load_config(
        global,
        Some(([127, 0, 0, 1], 0).into()),
        Require::StorageOnly,
    )?;
    let app = start_offline(config).await?;
    let state = app.state.clone();
    let supervisor = bench_session(&state, crate::cli::seed::SUPERVISOR_EMAIL).await?;
    let agent = bench_session(&state, &crate::cli::seed::agent_email(0)).await?;
    let conversations = state.store.count_conversations().await?;
    let messages = state.store.count_messages().await?;
    println!(
        "veil bench pages: backend {}, {conversations} conversations, {messages} messages, {} requests per page",
        state.store.backend(),
        args.requests
    );
    let sample = state
        .store
        .list_inbox(
            &crate::store::ConversationScope::All,
            "",
            &crate::store::InboxFilter::default(),
            i64::try_from(args.requests.max(1))?,
        )
        .await?;
    let label = state
        .desk
        .labels()
        .await?
        .into_iter()
        .next()
        .map(|l| l.id)
        .unwrap_or_default();
    let http = reqwest::Client::new();
    let base = app.url.clone();
    let kinds: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "inbox, all (supervisor)",
            &supervisor,
            vec!["/inbox".into()],
        ),
        (
            "inbox, open + label",
            &supervisor,
            vec![format!("/inbox?status=open&label={label}")],
        ),
        (
            "inbox, unassigned",
            &supervisor,
            vec!["/inbox?view=unassigned".into()],
        ),
        (
            "inbox, mine (agent)",
            &agent,
            vec!["/inbox?view=mine".into()],
        ),
        (
            "conversation page",
            &supervisor,
            sample
                .iter()
                .map(|c| format!("/inbox/c/{}", c.id))
                .collect(),
        ),
        (
            "search (newest 2,000)",
            &supervisor,
            vec!["/inbox?q=mer%2042".into()],
        ),
    ];
    let mut worst_p95 = 0.0_f64;
    for (name, cookie, paths) in &kinds {
        let p95 = measure(&http, &base, name, cookie, paths, args.requests).await?;
        if !name.starts_with("search") {
            worst_p95 = worst_p95.max(p95);
        }
    }
    println!(
        "list and conversation pages: worst p95 {worst_p95:.2} ms (target 50 ms): {}",
        if worst_p95 < 50.0 { "within" } else { "OVER" }
    );
    app.shutdown().await;
    Ok(())
}
