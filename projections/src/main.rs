//! projections binary: `run` (default), `rebuild <name>`, `verify [name]`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use events_schema::keystore::KeyStore;
use projections::config::Config;
use std::sync::Arc;

#[derive(Parser)]
#[command(version, about = "Belle projection workers")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every projection worker until SIGTERM.
    Run,
    /// Build the next version of a read model beside the live one and switch to it.
    Rebuild { name: String },
    /// Rebuild into a scratch copy and report any difference from live (exit 1 if any).
    Verify { name: Option<String> },
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
    let cli = Cli::parse();
    let config = Config::from_env()?;
    events_schema::db::migrate(&config.database_url, &projections::migrations()).await?;
    let pool = events_schema::db::app_pool(
        &config.database_url,
        &config.app_user,
        config.app_password.as_deref(),
        config.pool_size,
    )?;
    // Own pool for keys: a batch transaction holds a connection while it opens values.
    let key_pool = events_schema::db::app_pool(
        &config.database_url,
        &config.app_user,
        config.app_password.as_deref(),
        4,
    )?;
    let keys =
        KeyStore::new(key_pool, config.kek.clone()).with_previous(config.previous_kek.clone());
    let all = projections::all(keys);
    // The administrator creates, indexes and switches versions (the login role owns no
    // table); the workers only read and write rows.
    let admin = events_schema::db::admin_pool(&config.database_url, 3)?;
    for p in &all {
        projections::registry::ensure_live(&admin, p.as_ref()).await?;
    }
    let pick = |name: &str| {
        all.iter()
            .find(|p| p.name() == name)
            .cloned()
            .with_context(|| format!("no projection named {name}"))
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let (stop, rx) = tokio::sync::watch::channel(false);
            let workers: Vec<_> = all
                .iter()
                .map(|p| {
                    tokio::spawn(projections::runner::run_worker(
                        pool.clone(),
                        config.nats_url.clone(),
                        config.nats_prefix.clone(),
                        Arc::clone(p),
                        rx.clone(),
                    ))
                })
                .collect();
            events_schema::runtime::shutdown_signal().await;
            let _ = stop.send(true);
            for w in workers {
                let _ = w.await;
            }
            Ok(())
        }
        Command::Rebuild { name } => {
            let p = pick(&name)?;
            let v = projections::rebuild::rebuild(&admin, p.as_ref()).await?;
            println!("{name}: version {v} is live");
            Ok(())
        }
        Command::Verify { name } => {
            let chosen = match name {
                Some(n) => vec![pick(&n)?],
                None => all.clone(),
            };
            let mut differences = Vec::new();
            for p in chosen {
                differences.extend(projections::rebuild::verify(&admin, p.as_ref()).await?);
            }
            println!("{}", serde_json::to_string_pretty(&differences)?);
            if differences.is_empty() {
                println!("verify: no difference between rebuild and live");
                Ok(())
            } else {
                eprintln!("verify: {} table(s) differ", differences.len());
                std::process::exit(1);
            }
        }
    }
}
