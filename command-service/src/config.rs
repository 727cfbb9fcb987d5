//! Configuration, read once at start-up from `BELLE_…` environment variables.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BELLE_DATABASE_URL` (or `DATABASE_URL`) | `postgres://postgres@127.0.0.1:5432/belle` | migrating (owner) connection; the service itself logs in as `BELLE_DB_APP_USER_COMMAND` on the same server |
//! | `BELLE_DB_APP_USER_COMMAND` | `belle_command` | login role of the service (no table ownership, no BYPASSRLS) |
//! | `BELLE_DB_APP_PASSWORD_COMMAND` | none | its password, when the server asks for one |
//! | `BELLE_DB_POOL_SIZE` | `16` | connections in the service's pool |
//! | `BELLE_NATS_URL` (or `NATS_URL`) | `nats://127.0.0.1:4222` | NATS with JetStream |
//! | `BELLE_NATS_PREFIX` | `belle` | subject prefix and stream-name prefix |
//! | `BELLE_NATS_REPLICAS` | `1` | replicas of the JetStream events stream (3 in a cluster) |
//! | `BELLE_KEK` / `BELLE_KEK_FILE` | required | key-encryption key `id:base64` |
//! | `BELLE_TOKEN_SECRET` / `BELLE_TOKEN_SECRET_FILE` | required | base64 HMAC secret for access tokens |
//! | `BELLE_COMMAND_ADDR` | `127.0.0.1:8080` | HTTP listen address |
//! | `BELLE_TOKEN_TTL_SECS` | `900` | lifetime of access tokens (refresh tokens: 14 days, single use) |
//! | `BELLE_RELAY` | `on` | `off` disables the relay in this instance |
//! | `BELLE_NOTIFY_CHANNEL` | `log` | `log` (messages appended to `BELLE_NOTIFY_LOG_FILE`, development) or `webhook` |
//! | `BELLE_NOTIFY_LOG_FILE` | `notifications.jsonl` | where the `log` channel writes (it holds recipients and codes in clear, like a phone would) |
//! | `BELLE_NOTIFY_WEBHOOK_URL` | none | gateway the `webhook` channel POSTs to (required with it) |
//! | `BELLE_NOTIFY_WORKER` | `on` | `off`: this instance queues messages but does not send them |

use anyhow::{anyhow, Context};
use events_schema::runtime::{parse_var, secret, var};
use events_schema::sealing::Kek;
use events_schema::token::TokenSecret;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub app_user: String,
    pub app_password: Option<String>,
    pub pool_size: usize,
    pub nats_url: String,
    pub nats_prefix: String,
    /// Replicas of the JetStream events stream (3 in a production cluster).
    pub nats_replicas: usize,
    pub kek: std::sync::Arc<Kek>,
    /// During a KEK rotation, the KEK being retired.
    pub previous_kek: Option<Kek>,
    pub token_secret: TokenSecret,
    pub addr: SocketAddr,
    pub token_ttl: Duration,
    pub relay: bool,
    /// Where notifications go.
    pub notify_channel: crate::app::notify::Channel,
    /// Whether this instance runs the notification worker.
    pub notify_worker: bool,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let kek = Kek::parse(&secret("BELLE_KEK")?).map_err(|e| anyhow!("BELLE_KEK: {e}"))?;
        let token_secret = TokenSecret::parse(&secret("BELLE_TOKEN_SECRET")?)
            .map_err(|e| anyhow!("BELLE_TOKEN_SECRET: {e}"))?;
        Ok(Config {
            database_url: var("BELLE_DATABASE_URL", Some("DATABASE_URL"))
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/belle".into()),
            app_user: var("BELLE_DB_APP_USER_COMMAND", None)
                .unwrap_or_else(|| "belle_command".into()),
            app_password: var("BELLE_DB_APP_PASSWORD_COMMAND", None),
            pool_size: parse_var("BELLE_DB_POOL_SIZE", 16)?,
            nats_url: var("BELLE_NATS_URL", Some("NATS_URL"))
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            nats_prefix: var("BELLE_NATS_PREFIX", None).unwrap_or_else(|| "belle".into()),
            nats_replicas: parse_var("BELLE_NATS_REPLICAS", 1)?,
            kek: std::sync::Arc::new(kek),
            previous_kek: events_schema::runtime::previous_kek()?,
            token_secret,
            addr: var("BELLE_COMMAND_ADDR", None)
                .unwrap_or_else(|| "127.0.0.1:8080".into())
                .parse()
                .context("BELLE_COMMAND_ADDR")?,
            token_ttl: Duration::from_secs(parse_var("BELLE_TOKEN_TTL_SECS", 900)?),
            relay: var("BELLE_RELAY", None).is_none_or(|v| v != "off"),
            notify_channel: notify_channel()?,
            notify_worker: var("BELLE_NOTIFY_WORKER", None).is_none_or(|v| v != "off"),
        })
    }
}

fn notify_channel() -> anyhow::Result<crate::app::notify::Channel> {
    use crate::app::notify::Channel;
    match var("BELLE_NOTIFY_CHANNEL", None)
        .as_deref()
        .unwrap_or("log")
    {
        "log" => Ok(Channel::Log {
            file: var("BELLE_NOTIFY_LOG_FILE", None)
                .unwrap_or_else(|| "notifications.jsonl".into())
                .into(),
        }),
        "webhook" => {
            let url = var("BELLE_NOTIFY_WEBHOOK_URL", None).ok_or_else(|| {
                anyhow!("BELLE_NOTIFY_WEBHOOK_URL is required with BELLE_NOTIFY_CHANNEL=webhook")
            })?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(anyhow!("BELLE_NOTIFY_WEBHOOK_URL must be an http(s) URL"));
            }
            Ok(Channel::Webhook { url })
        }
        other => Err(anyhow!(
            "BELLE_NOTIFY_CHANNEL must be log or webhook, not {other:?}"
        )),
    }
}
