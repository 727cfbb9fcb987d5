//! Rebuild (G8) and verify (G7).
//!
//! `rebuild`: build version N+1 beside live N from the feed in PostgreSQL, then — in
//! one transaction holding the registry row exclusively, so live workers pause for a
//! moment — apply the last few events, point the `rm` views at N+1 and mark it live.
//! Versions older than N are dropped; N stays until the next rebuild.
//!
//! `verify`: build a scratch version up to live's checkpoint, then compare every table
//! both ways (`EXCEPT ALL`) under the registry lock; report differing row counts.

use crate::registry;
use crate::runner::{catch_up, Target};
use crate::Projection;
use deadpool_postgres::Pool;

// Both run on the administrator's pool (`db::admin_pool`): they create, index, drop and
// switch versions, which needs table ownership.

/// Version number used for verify's scratch copy.
const SCRATCH_VERSION: i32 = 0;

/// Rebuilds a projection into a new version and switches to it; returns the version.
pub async fn rebuild(admin: &Pool, p: &dyn Projection) -> anyhow::Result<i32> {
    let live = registry::ensure_live(admin, p).await?;
    let next = live + 1;
    {
        let mut client = admin.get().await?;
        let tx = client.transaction().await?;
        let stale = registry::schema(p.name(), next);
        tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {stale} CASCADE"))
            .await?;
        for old in 1..live {
            let old = registry::schema(p.name(), old);
            tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {old} CASCADE"))
                .await?;
        }
        registry::create_version(&tx, p, next).await?;
        tx.commit().await?;
    }
    let started = std::time::Instant::now();
    let loaded_to = catch_up(admin, p, Target::Version(next), None).await?;
    let loaded = started.elapsed();
    // Indexes after the bulk load, two at a time; then catch up again with what came
    // meanwhile.
    registry::create_indexes_in_parallel(admin, p, next, 2).await?;
    let indexed = started.elapsed() - loaded;
    catch_up(admin, p, Target::Version(next), None).await?;
    tracing::info!(
        projection = p.name(),
        version = next,
        feed = loaded_to,
        load_ms = loaded.as_millis(),
        index_ms = indexed.as_millis(),
        "rebuild loaded and indexed"
    );
    // Switch: hold the registry row exclusively (live workers pause), apply the
    // tail live has seen since, repoint the views, mark the new version live.
    let mut client = admin.get().await?;
    let tx = client.transaction().await?;
    tx.query_one(
        "SELECT live_version FROM projections.registry WHERE name = $1 FOR UPDATE",
        &[&p.name()],
    )
    .await?;
    let live_cp: i64 = tx
        .query_one(
            &format!(
                "SELECT seq FROM {}.checkpoint",
                registry::schema(p.name(), live)
            ),
            &[],
        )
        .await?
        .get(0);
    let next_schema = registry::schema(p.name(), next);
    let next_cp: i64 = tx
        .query_one(&format!("SELECT seq FROM {next_schema}.checkpoint"), &[])
        .await?
        .get(0);
    registry::enter(&tx, &next_schema).await?;
    if next_cp < live_cp {
        // Apply the remaining tail inside this transaction, so nothing moves meanwhile.
        let tail = events_schema::store::read_feed(&tx, next_cp, live_cp - next_cp).await?;
        p.apply(&tx, &tail).await?;
        tx.execute("UPDATE checkpoint SET seq = $1 WHERE id = 1", &[&live_cp])
            .await?;
    }
    registry::point_views(&tx, p, next).await?;
    tx.execute(
        "UPDATE projections.registry SET live_version = $2, switched_at = now() WHERE name = $1",
        &[&p.name(), &next],
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        projection = p.name(),
        version = next,
        "rebuilt and switched"
    );
    Ok(next)
}

/// A difference between live and a rebuild, per table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub projection: String,
    pub table: String,
    /// Rows in live that the rebuild does not have.
    pub only_in_live: i64,
    /// Rows in the rebuild that live does not have.
    pub only_in_rebuild: i64,
}

/// Rebuilds into a scratch schema and compares with live; empty means identical.
pub async fn verify(admin: &Pool, p: &dyn Projection) -> anyhow::Result<Vec<Difference>> {
    let live = registry::ensure_live(admin, p).await?;
    let scratch = registry::schema(p.name(), SCRATCH_VERSION);
    {
        let mut client = admin.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {scratch} CASCADE"))
            .await?;
        registry::create_version(&tx, p, SCRATCH_VERSION).await?;
        tx.commit().await?;
    }
    let result = async {
        let live_schema = registry::schema(p.name(), live);
        let live_cp = {
            let client = admin.get().await?;
            let cp: i64 = client
                .query_one(&format!("SELECT seq FROM {live_schema}.checkpoint"), &[], )
                .await?
                .get(0);
            cp
        };
        catch_up(admin, p, Target::Version(SCRATCH_VERSION), Some(live_cp)).await?;
        // Freeze live (workers wait on the registry row), bring scratch to live's
        // checkpoint, compare.
        let mut client = admin.get().await?;
        let tx = client.transaction().await?;
        tx.query_one(
            "SELECT live_version FROM projections.registry WHERE name = $1 FOR UPDATE",
            &[&p.name()],
        )
        .await?;
        let live_cp: i64 = tx
            .query_one(&format!("SELECT seq FROM {live_schema}.checkpoint"), &[])
            .await?
            .get(0);
        let scratch_cp: i64 = tx
            .query_one(&format!("SELECT seq FROM {scratch}.checkpoint"), &[])
            .await?
            .get(0);
        // The projector's scope: an administrator that is not a superuser is subject to
        // the tables' row-level security too.
        registry::enter(&tx, &scratch).await?;
        if scratch_cp < live_cp {
            let tail = events_schema::store::read_feed(&tx, scratch_cp, live_cp - scratch_cp).await?;
            p.apply(&tx, &tail).await?;
        }
        let mut diffs = Vec::new();
        for table in p.tables() {
            let row = tx
                .query_one(
                    &format!(
                        "SELECT
                           (SELECT count(*) FROM (SELECT * FROM {live_schema}.{table} EXCEPT ALL SELECT * FROM {scratch}.{table}) a),
                           (SELECT count(*) FROM (SELECT * FROM {scratch}.{table} EXCEPT ALL SELECT * FROM {live_schema}.{table}) b)"
                    ),
                    &[],
                )
                .await?;
            let (only_in_live, only_in_rebuild): (i64, i64) = (row.get(0), row.get(1));
            if only_in_live != 0 || only_in_rebuild != 0 {
                diffs.push(Difference {
                    projection: p.name().to_owned(),
                    table: (*table).to_owned(),
                    only_in_live,
                    only_in_rebuild,
                });
            }
        }
        tx.rollback().await?;
        anyhow::Ok(diffs)
    }
    .await;
    let client = admin.get().await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {scratch} CASCADE"))
        .await?;
    result
}
