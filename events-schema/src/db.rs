//! Connecting to PostgreSQL: one admin connection for migrations at start-up, then a
//! pool logged in as the service's own role (which owns no tables).

use crate::migrate::{self, Migration};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use tokio_postgres::NoTls;

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("invalid database URL: {0}")]
    Url(tokio_postgres::Error),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(tokio_postgres::Error),
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    #[error("cannot build pool: {0}")]
    Pool(String),
}

/// Runs the given components' migrations over an admin connection, in order.
pub async fn migrate(
    admin_url: &str,
    components: &[(&str, &[Migration])],
) -> Result<(), DbSetupError> {
    let config = tokio_postgres::Config::from_str(admin_url).map_err(DbSetupError::Url)?;
    let (mut client, connection) = config.connect(NoTls).await.map_err(DbSetupError::Connect)?;
    let driver = tokio::spawn(connection);
    for (component, migrations) in components {
        migrate::run(&mut client, component, migrations).await?;
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// A pool on the admin URL's server and database, logged in as `user`.
pub fn app_pool(
    admin_url: &str,
    user: &str,
    password: Option<&str>,
    size: usize,
) -> Result<Pool, DbSetupError> {
    let mut config = tokio_postgres::Config::from_str(admin_url).map_err(DbSetupError::Url)?;
    config.user(user);
    if let Some(p) = password {
        config.password(p);
    }
    config.application_name(user);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| DbSetupError::Pool(e.to_string()))
}

/// A pool logged in as the administrator of the admin URL itself: for the operator's
/// work that needs table ownership (creating, indexing and switching read-model
/// versions). Services use it for nothing else.
pub fn admin_pool(admin_url: &str, size: usize) -> Result<Pool, DbSetupError> {
    let mut config = tokio_postgres::Config::from_str(admin_url).map_err(DbSetupError::Url)?;
    config.application_name("belle_admin");
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| DbSetupError::Pool(e.to_string()))
}

/// Opens one dedicated connection as `user` (the relay's lock holder, listeners).
pub async fn dedicated(
    admin_url: &str,
    user: &str,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, DbSetupError> {
    let mut config = tokio_postgres::Config::from_str(admin_url).map_err(DbSetupError::Url)?;
    config.user(user);
    if let Some(p) = password {
        config.password(p);
    }
    let (client, connection) = config.connect(NoTls).await.map_err(DbSetupError::Connect)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "dedicated connection closed");
        }
    });
    Ok(client)
}
