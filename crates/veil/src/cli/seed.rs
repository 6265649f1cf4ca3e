//! `veil seed`: fills a database with synthetic customers, conversations and messages through
//! the real ingest path (sealed with per-contact keys, blind-indexed, group-committed), then
//! spreads the conversations over agents, teams, states and labels as a busy support desk would
//! have them. `veil bench pages` measures the inbox against such a database.

use std::sync::Arc;
use std::time::Instant;

use crate::cli::setup::{Global, load_config};
use crate::clock::{Clock, SystemClock};
use crate::config::Require;
use crate::identity::Role;
use crate::store::{LabelRow, TeamRow};

/// Options of `veil seed`.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Conversations (one customer each).
    #[arg(long, default_value_t = 100_000)]
    pub conversations: usize,
    /// Messages in all, spread evenly over the conversations.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Agents the conversations are spread over.
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
}

/// The e-mail of seeded agent `i` (the page benchmark signs in as agent 0).
pub fn agent_email(i: usize) -> String {
    format!("seed-agent-{i}@seed.veil")
}

/// The e-mail of the seeded supervisor.
pub const SUPERVISOR_EMAIL: &str = "seed-supervisor@seed.veil";

const DAY_MS: i64 = 24 * 3_600_000;
/// Items per ingest job, and jobs in flight (the writer groups them into transactions).
const JOB_ITEMS: usize = 500;
const IN_FLIGHT: usize = 16;

/// `veil seed`.
#[allow(
    clippy::too_many_lines,
    reason = "one scripted fill, step by step: people, messages, spread, labels"
)]
pub async fn seed(global: &Global, args: SeedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.conversations > 0 && args.messages >= args.conversations,
        "need at least one message per conversation"
    );
    let config = load_config(
        global,
        Some(([127, 0, 0, 1], 0).into()),
        Require::StorageOnly,
    )?;
    let app = crate::cli::bench::start_offline(config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = app.state.clone();
    let store = state.store.clone();
    println!(
        "veil seed: {} conversations, {} messages, {} agents, backend {}",
        args.conversations,
        args.messages,
        args.agents,
        store.backend()
    );

    // People and teams.
    let mut agents = Vec::new();
    for i in 0..args.agents.max(1) {
        let email = agent_email(i);
        let user = match store.user_by_email(&email).await? {
            Some(user) => user,
            None => {
                state
                    .identity
                    .create_user(None, &email, &format!("Seed Agent {i}"), Role::Agent, "en")
                    .await?
                    .user
            }
        };
        agents.push(user.id);
    }
    if store.user_by_email(SUPERVISOR_EMAIL).await?.is_none() {
        state
            .identity
            .create_user(
                None,
                SUPERVISOR_EMAIL,
                "Seed Supervisor",
                Role::Supervisor,
                "en",
            )
            .await?;
    }
    let mut teams = Vec::new();
    for name in ["Orders", "Returns", "Billing", "VIP"] {
        let row = TeamRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: format!("Seed {name}"),
            created_at: clock.now_ms(),
        };
        store.insert_team(&row).await?;
        if let Some(team) = store
            .list_teams()
            .await?
            .into_iter()
            .find(|t| t.name == row.name)
        {
            teams.push(team.id);
        }
    }
    for (i, agent) in agents.iter().enumerate() {
        if let Some(team) = teams.get(i % teams.len().max(1)) {
            store.add_team_member(team, agent).await?;
        }
    }

    // Messages, through the ingest writer, several jobs in flight.
    let per_conversation = args.messages / args.conversations;
    let extra = args.messages % args.conversations;
    let now_s = clock.now_ms() / 1000;
    let span_s = 30 * DAY_MS / 1000;
    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    let mut items = Vec::with_capacity(JOB_ITEMS);
    let mut sent = 0usize;
    for c in 0..args.conversations {
        let count = per_conversation + usize::from(c < extra);
        // Each customer's last message lands somewhere in the last 30 days, so windows,
        // activity order and ages vary as they do in a real inbox.
        let last = now_s - i64::try_from((c * 7919) % usize::try_from(span_s)?)?;
        for n in 0..count {
            let at = last - i64::try_from((count - 1 - n) * 600)?;
            let body = crate::cli::bench::webhook_body(c, &format!("wamid.seed.{c}.{n}"), at);
            let parsed = crate::whatsapp::webhook::parse(body.as_bytes())
                .map_err(|e| anyhow::anyhow!("seed payload: {e}"))?;
            items.extend(parsed);
            if items.len() >= JOB_ITEMS {
                let job = std::mem::replace(&mut items, Vec::with_capacity(JOB_ITEMS));
                let ingestor = state.ingestor.clone();
                pending.spawn(async move { ingestor.submit(job).await });
                while pending.len() >= IN_FLIGHT {
                    if let Some(done) = pending.join_next().await {
                        done??;
                    }
                }
            }
            sent += 1;
        }
        if c > 0 && c % 10_000 == 0 {
            println!("  {c} conversations, {sent} messages …");
        }
    }
    if !items.is_empty() {
        let ingestor = state.ingestor.clone();
        pending.spawn(async move { ingestor.submit(items).await });
    }
    while let Some(done) = pending.join_next().await {
        done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let rate = sent as f64 / elapsed;
    println!("ingested {sent} messages in {elapsed:.1} s ({rate:.0} messages/s)");

    // Spread: of every 20 conversations, 11 go to agents (round-robin), 3 to a team only, 6 stay
    // unassigned; a third are resolved and a tenth pending.
    let total = i64::try_from(args.conversations)?;
    let slice = 100_i64;
    let mut offset = 0;
    let mut k = 0usize;
    while offset < total {
        let agent = agents.get(k % agents.len()).map(String::as_str);
        let team = teams.get(k % teams.len().max(1)).map(String::as_str);
        let (assignee, team) = match k % 20 {
            0..=10 => (agent, team),
            11..=13 => (None, team),
            _ => (None, None),
        };
        let status = match k % 10 {
            0..=2 => "resolved",
            3 => "pending",
            _ => "open",
        };
        store
            .spread_conversations(offset, slice, assignee, team, status)
            .await?;
        offset += slice;
        k += 1;
    }
    // Labels on a few conversations.
    let mut labels = Vec::new();
    for name in ["VIP", "Billing", "Delivery", "Complaint"] {
        let row = LabelRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.into(),
        };
        store.insert_label(&row, clock.now_ms()).await?;
        if let Some(label) = store.labels().await?.into_iter().find(|l| l.name == name) {
            labels.push(label.id);
        }
    }
    let page = store
        .list_inbox(
            &crate::store::ConversationScope::All,
            "",
            &crate::store::InboxFilter::default(),
            2_000,
        )
        .await?;
    for (i, conversation) in page.iter().enumerate().step_by(7) {
        if let Some(label) = labels.get(i % labels.len().max(1)) {
            store.set_label(&conversation.id, label, true).await?;
        }
    }
    println!(
        "database: {} messages; agents {}; supervisor {SUPERVISOR_EMAIL}",
        store.count_messages().await?,
        agent_email(0)
    );
    app.shutdown().await;
    Ok(())
}
