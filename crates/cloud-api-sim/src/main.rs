//! `cloud-api-sim`: runs the simulator alone. `veil sim` does the same from the Veil binary.

use std::net::SocketAddr;

use clap::Parser;
use cloud_api_sim::{SimConfig, spawn};

/// A local stand-in for Meta's WhatsApp Cloud API.
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// App secret used to sign webhooks.
    #[arg(long, default_value = "sim-app-secret")]
    app_secret: String,
    /// Bearer token the Graph API accepts.
    #[arg(long, default_value = "sim-access-token")]
    access_token: String,
    /// Where to POST webhooks.
    #[arg(long)]
    webhook_url: Option<String>,
    /// Phone number id served.
    #[arg(long, default_value = "100000000000001")]
    phone_number_id: String,
    #[command(flatten)]
    faults: cloud_api_sim::FaultFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();
    let mut config = SimConfig {
        app_secret: args.app_secret,
        access_token: args.access_token,
        webhook_url: args.webhook_url,
        phone_number_id: args.phone_number_id,
        ..SimConfig::default()
    };
    args.faults.apply(&mut config);
    let handle = spawn(config, args.listen).await?;
    println!("simulator listening on {}", handle.url);
    tokio::signal::ctrl_c().await?;
    handle.stop();
    Ok(())
}
