//! `cloud-api-sim`: runs the simulator alone. `veil sim` does the same from the Veil binary.

use clap::Parser;
use cloud_api_sim::{SimArgs, spawn};

/// A local stand-in for Meta's WhatsApp Cloud API.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let (config, listen) = Args::parse().sim.into_config();
    let handle = spawn(config, listen).await?;
    println!("simulator listening on {}", handle.url);
    tokio::signal::ctrl_c().await?;
    handle.stop();
    Ok(())
}
