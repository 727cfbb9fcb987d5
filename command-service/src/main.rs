//! command-service binary: `serve` (default), `migrate`, `create-tenant`.

use clap::{Parser, Subcommand};
use command_service::app::identity::NewTenant;
use command_service::config::Config;
use command_service::domain::identity::{LoginName, Password, TenantSlug};
use command_service::startup::{build_app, Application};

#[derive(Parser)]
#[command(version, about = "Belle command-service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the relay.
    Serve,
    /// Run migrations and exit.
    Migrate,
    /// Create a tenant with its first owner account; prints JSON. Exit code 3 if the slug exists.
    CreateTenant {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_login: String,
        #[arg(long, env = "BELLE_OWNER_PASSWORD")]
        owner_password: String,
    },
    /// Re-wrap every data key wrapped by BELLE_KEK_PREVIOUS with BELLE_KEK (no event is
    /// rewritten); prints what was re-wrapped as JSON. Afterwards the previous KEK is no
    /// longer needed.
    RotateKek,
    /// Recompute the hash chain over the event log; prints the report as JSON. Exit
    /// code 1 if a position does not match (the report names the first).
    VerifyChain,
}

/// mimalloc: glibc's malloc spent a tenth of the benchmark's CPU in consolidation and
/// fresh-page faults under this workload of many short-lived JSON values.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    events_schema::runtime::init_tracing();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(config).await?.run_until_signal().await,
        Command::Migrate => {
            events_schema::db::migrate(
                &config.database_url,
                &command_service::startup::migrations(),
            )
            .await?;
            Ok(())
        }
        Command::RotateKek => {
            let previous = config.previous_kek.as_ref().ok_or_else(|| {
                anyhow::anyhow!("set BELLE_KEK_PREVIOUS to the KEK being retired")
            })?;
            let admin = events_schema::db::admin_pool(&config.database_url, 1)?;
            let mut client = admin.get().await?;
            let done =
                events_schema::keystore::rotate_kek(&mut client, previous, &config.kek).await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
            Ok(())
        }
        Command::VerifyChain => {
            let pool = events_schema::db::app_pool(
                &config.database_url,
                &config.app_user,
                config.app_password.as_deref(),
                1,
            )?;
            let report = events_schema::store::chain::verify(&pool.get().await?).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.first_breach.is_some() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::CreateTenant {
            slug,
            name,
            owner_login,
            owner_password,
        } => {
            let bad = |f: &str, m: &str| anyhow::anyhow!("{f}: {m}");
            let tenant = NewTenant {
                slug: TenantSlug::parse(&slug).map_err(|m| bad("--slug", m))?,
                name,
                owner_login: LoginName::parse(&owner_login).map_err(|m| bad("--owner-login", m))?,
                owner_password: Password::parse(&owner_password)
                    .map_err(|m| bad("--owner-password", m))?,
            };
            let app = build_app(&config).await?;
            match app.create_tenant(tenant).await {
                Ok(out) => {
                    println!("{}", serde_json::to_string(&out)?);
                    Ok(())
                }
                Err(command_service::app::AppError::DuplicateTenant) => {
                    eprintln!("a tenant with slug {slug} already exists");
                    std::process::exit(3);
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
