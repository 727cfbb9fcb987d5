//! A small, visible migration runner: numbered SQL files per owning component, applied
//! once each, in order, under an advisory lock so several instances can start at once.
//! Landed migrations are never edited; a checksum catches an accidental edit.

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// One migration: a number unique within its component and the SQL it runs.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database error while migrating {component} {version}: {source}")]
    Db {
        component: String,
        version: i32,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("migration {component} {version} was edited after it was applied (checksum differs)")]
    Edited { component: String, version: i32 },
}

const LOCK_KEY: i64 = 0x4245_4c4c_455f_4d47; // "BELLE_MG"

/// Applies every migration of `component` not yet applied. Safe to call from several
/// processes at once: they serialise on an advisory lock.
pub async fn run(
    client: &mut Client,
    component: &str,
    migrations: &[Migration],
) -> Result<(), MigrateError> {
    let db = |version: i32| {
        let component = component.to_owned();
        move |source| MigrateError::Db {
            component,
            version,
            source,
        }
    };
    client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS belle_meta;
             CREATE TABLE IF NOT EXISTS belle_meta.migrations (
                 component text NOT NULL,
                 version int NOT NULL,
                 name text NOT NULL,
                 checksum text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (component, version))",
        )
        .await
        .or_else(ignore_concurrent_create)
        .map_err(db(0))?;
    let tx = client.transaction().await.map_err(db(0))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(db(0))?;
    for m in migrations {
        let checksum = hex(&Sha256::digest(m.sql.as_bytes()));
        let row = tx
            .query_opt(
                "SELECT checksum FROM belle_meta.migrations WHERE component = $1 AND version = $2",
                &[&component, &m.version],
            )
            .await
            .map_err(db(m.version))?;
        match row {
            Some(r) => {
                let applied: String = r.get(0);
                if applied != checksum {
                    return Err(MigrateError::Edited {
                        component: component.to_owned(),
                        version: m.version,
                    });
                }
            }
            None => {
                tx.batch_execute(m.sql).await.map_err(db(m.version))?;
                tx.execute(
                    "INSERT INTO belle_meta.migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                    &[&component, &m.version, &m.name, &checksum],
                )
                .await
                .map_err(db(m.version))?;
            }
        }
    }
    tx.commit().await.map_err(db(0))?;
    Ok(())
}

/// `CREATE … IF NOT EXISTS` can still race on the catalog when two processes start
/// together; the loser's unique violation means the object now exists.
fn ignore_concurrent_create(e: tokio_postgres::Error) -> Result<(), tokio_postgres::Error> {
    match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => Ok(()),
        _ => Err(e),
    }
}

/// Lower-case hex of bytes (checksums, request hashes).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
