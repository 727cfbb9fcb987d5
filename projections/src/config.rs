//! Configuration from `BELLE_…` variables (see `deploy/CONFIG.md`).

use anyhow::anyhow;
use events_schema::runtime::{parse_var, secret, var};
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
    /// During a KEK rotation, the KEK being retired.
    pub previous_kek: Option<Kek>,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            database_url: var("BELLE_DATABASE_URL", Some("DATABASE_URL"))
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/belle".into()),
            app_user: var("BELLE_DB_APP_USER_PROJECTIONS", None)
                .unwrap_or_else(|| "belle_projections".into()),
            app_password: var("BELLE_DB_APP_PASSWORD_PROJECTIONS", None),
            pool_size: parse_var("BELLE_DB_POOL_SIZE", 8)?,
            nats_url: var("BELLE_NATS_URL", Some("NATS_URL"))
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            nats_prefix: var("BELLE_NATS_PREFIX", None).unwrap_or_else(|| "belle".into()),
            kek: Kek::parse(&secret("BELLE_KEK")?).map_err(|e| anyhow!("BELLE_KEK: {e}"))?,
            previous_kek: events_schema::runtime::previous_kek()?,
        })
    }
}
