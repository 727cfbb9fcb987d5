//! query-service binary: `serve` (default).

use clap::{Parser, Subcommand};
use query_service::config::Config;
use query_service::startup::Application;

#[derive(Parser)]
#[command(version, about = "Belle query-service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
}

/// mimalloc: glibc's malloc spent a tenth of the benchmark's CPU in consolidation and
/// fresh-page faults under this workload of many short-lived JSON values.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BELLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let Cli { command } = Cli::parse();
    match command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(Config::from_env()?).await?;
            events_schema::runtime::shutdown_signal().await;
            app.stop().await;
            Ok(())
        }
    }
}
