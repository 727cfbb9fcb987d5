//! Configuration from `BELLE_…` variables (see `deploy/CONFIG.md`).

use anyhow::{anyhow, Context};
use events_schema::runtime::{parse_var, secret, var};
use events_schema::sealing::Kek;
use events_schema::token::TokenSecret;
use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub app_user: String,
    pub app_password: Option<String>,
    pub pool_size: usize,
    pub kek: Kek,
    /// During a KEK rotation, the KEK being retired.
    pub previous_kek: Option<Kek>,
    pub token_secret: TokenSecret,
    pub addr: SocketAddr,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            database_url: var("BELLE_DATABASE_URL", Some("DATABASE_URL"))
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/belle".into()),
            app_user: var("BELLE_DB_APP_USER_QUERY", None).unwrap_or_else(|| "belle_query".into()),
            app_password: var("BELLE_DB_APP_PASSWORD_QUERY", None),
            pool_size: parse_var("BELLE_DB_POOL_SIZE", 16)?,
            kek: Kek::parse(&secret("BELLE_KEK")?).map_err(|e| anyhow!("BELLE_KEK: {e}"))?,
            previous_kek: events_schema::runtime::previous_kek()?,
            token_secret: TokenSecret::parse(&secret("BELLE_TOKEN_SECRET")?)
                .map_err(|e| anyhow!("BELLE_TOKEN_SECRET: {e}"))?,
            addr: var("BELLE_QUERY_ADDR", None)
                .unwrap_or_else(|| "127.0.0.1:8081".into())
                .parse()
                .context("BELLE_QUERY_ADDR")?,
        })
    }
}
