//! Building and running query-service.

use crate::config::Config;
use crate::http::{router, AppState};
use anyhow::Context;
use events_schema::keystore::KeyStore;
use std::net::SocketAddr;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Every migration this service depends on (it owns none).
pub fn migrations() -> Vec<(&'static str, &'static [events_schema::migrate::Migration])> {
    vec![
        ("es", events_schema::store::MIGRATIONS),
        ("keys", events_schema::keystore::MIGRATIONS),
    ]
}

pub struct Application {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        events_schema::db::migrate(&config.database_url, &migrations()).await?;
        let pool = events_schema::db::app_pool(
            &config.database_url,
            &config.app_user,
            config.app_password.as_deref(),
            config.pool_size,
        )?;
        // Own pool for keys: a request holding a pooled connection may need a key.
        let key_pool = events_schema::db::app_pool(
            &config.database_url,
            &config.app_user,
            config.app_password.as_deref(),
            4,
        )?;
        let state = AppState {
            keys: KeyStore::new(key_pool, config.kek.clone())
                .with_previous(config.previous_kek.clone()),
            waits: crate::consistency::Waits::start(pool.clone()),
            pool,
            tokens: config.token_secret.clone(),
            chain_gate: std::sync::Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr()?;
        let (shutdown, mut rx) = watch::channel(false);
        let app = router(state);
        let server = tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%addr, "query-service listening");
        Ok(Application {
            addr,
            shutdown,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
    }
}
