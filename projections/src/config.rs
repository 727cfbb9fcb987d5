//! Configuration from `BELLE_…` variables (see `deploy/CONFIG.md`).

use anyhow::{anyhow, Context};
use events_schema::sealing::Kek;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub app_user: String,
    pub app_password: Option<String>,
    pub pool_size: usize,
    pub nats_url: String,
    pub nats_prefix: String,
    pub kek: Kek,
}

fn var(name: &str, fallback: Option<&str>) -> Option<String> {
    std::env::var(name)
        .ok()
        .or_else(|| fallback.and_then(|f| std::env::var(f).ok()))
        .filter(|v| !v.trim().is_empty())
}

fn secret(name: &str) -> anyhow::Result<String> {
    if let Some(v) = var(name, None) {
        return Ok(v);
    }
    let file_var = format!("{name}_FILE");
    let path = var(&file_var, None).ok_or_else(|| anyhow!("set {name} or {file_var}"))?;
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {file_var}"))?
        .trim()
        .to_owned())
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            database_url: var("BELLE_DATABASE_URL", Some("DATABASE_URL"))
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/belle".into()),
            app_user: var("BELLE_DB_APP_USER_PROJECTIONS", None)
                .unwrap_or_else(|| "belle_projections".into()),
            app_password: var("BELLE_DB_APP_PASSWORD_PROJECTIONS", None),
            pool_size: var("BELLE_DB_POOL_SIZE", None)
                .map(|v| v.parse().context("BELLE_DB_POOL_SIZE"))
                .transpose()?
                .unwrap_or(8),
            nats_url: var("BELLE_NATS_URL", Some("NATS_URL"))
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            nats_prefix: var("BELLE_NATS_PREFIX", None).unwrap_or_else(|| "belle".into()),
            kek: Kek::parse(&secret("BELLE_KEK")?).map_err(|e| anyhow!("BELLE_KEK: {e}"))?,
        })
    }
}
