//! Versions of read models (G8): each version lives in its own schema
//! `rm_<name>_v<N>`; the registry names the live one; views in schema `rm` point at it.
//!
//! Creating, indexing and switching versions needs table ownership, so the functions
//! that do it take the administrator's pool or transaction (`db::admin_pool`): the
//! workers' login role owns no table and cannot bypass row-level security (migration
//! `0002_read_model_security`). Every transaction that reads or writes a version enters
//! it with [`enter`].

use crate::Projection;
use deadpool_postgres::{GenericClient, Transaction};

/// Schema of one version of a projection.
pub fn schema(name: &str, version: i32) -> String {
    format!("rm_{name}_v{version}")
}

/// Makes sure the projection has a live version (creating version 1 on first start).
/// `admin`: the administrator's pool.
pub async fn ensure_live(
    admin: &deadpool_postgres::Pool,
    p: &dyn Projection,
) -> anyhow::Result<i32> {
    let mut client = admin.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO projections.registry (name, live_version) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING",
        &[&p.name()],
    )
    .await?;
    let version: i32 = tx
        .query_one(
            "SELECT live_version FROM projections.registry WHERE name = $1 FOR UPDATE",
            &[&p.name()],
        )
        .await?
        .get(0);
    if !schema_exists(&tx, &schema(p.name(), version)).await? {
        create_version(&tx, p, version).await?;
        create_indexes(&tx, p, version).await?;
        point_views(&tx, p, version).await?;
    }
    tx.commit().await?;
    Ok(version)
}

pub async fn schema_exists(client: &impl GenericClient, schema: &str) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await?
        .get(0))
}

/// Sets the transaction's search path to a version's schema and marks it as the
/// projector's (policy `projector_rows`: it reads and writes every tenant's rows).
pub async fn enter(tx: &Transaction<'_>, schema: &str) -> anyhow::Result<()> {
    tx.batch_execute(&format!(
        "SET LOCAL search_path TO {schema}; SET LOCAL belle.projector = 'on'"
    ))
    .await?;
    Ok(())
}

/// Creates the schema and tables of one version, with their row-level security and
/// grants (`projections.secure_version`). `tx`: the administrator's.
pub async fn create_version(
    tx: &Transaction<'_>,
    p: &dyn Projection,
    version: i32,
) -> anyhow::Result<()> {
    let schema = schema(p.name(), version);
    tx.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    run_in(tx, &schema, p.ddl()).await?;
    tx.execute("SELECT projections.secure_version($1)", &[&schema])
        .await?;
    Ok(())
}

/// Creates the secondary indexes of one version.
pub async fn create_indexes(
    tx: &Transaction<'_>,
    p: &dyn Projection,
    version: i32,
) -> anyhow::Result<()> {
    run_in(tx, &schema(p.name(), version), p.indexes()).await
}

/// Creates a version's secondary indexes on `connections` connections at once, each
/// taking every n-th statement in its own transaction (a GIN build uses one core; two
/// of them at once use two). For a version that is not live yet (a rebuild): if one
/// fails, the rebuild fails and its schema is dropped by the next attempt.
pub async fn create_indexes_in_parallel(
    admin: &deadpool_postgres::Pool,
    p: &dyn Projection,
    version: i32,
    connections: usize,
) -> anyhow::Result<()> {
    let schema = schema(p.name(), version);
    let statements: Vec<String> = p
        .indexes()
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let connections = connections.max(1);
    let runs = (0..connections).map(|i| {
        let mine: Vec<&String> = statements.iter().skip(i).step_by(connections).collect();
        let schema = schema.clone();
        async move {
            if mine.is_empty() {
                return anyhow::Ok(());
            }
            let mut client = admin.get().await?;
            let tx = client.transaction().await?;
            let ddl: String = mine.iter().map(|s| format!("{s};\n")).collect();
            run_in(&tx, &schema, &ddl).await?;
            tx.commit().await?;
            Ok(())
        }
    });
    for result in futures::future::join_all(runs).await {
        result?;
    }
    Ok(())
}

/// Runs DDL with search_path set to one version's schema.
async fn run_in(tx: &Transaction<'_>, schema: &str, ddl: &str) -> anyhow::Result<()> {
    enter(tx, schema).await?;
    tx.batch_execute(ddl).await?;
    Ok(())
}

/// Points the `rm` views at one version (atomically with the caller's transaction, the
/// administrator's). The views check privileges and policies as the querying role.
pub async fn point_views(
    tx: &Transaction<'_>,
    p: &dyn Projection,
    version: i32,
) -> anyhow::Result<()> {
    let schema = schema(p.name(), version);
    let mut sql = String::new();
    for table in p.tables() {
        sql.push_str(&format!(
            "DROP VIEW IF EXISTS rm.{table};
             CREATE VIEW rm.{table} WITH (security_invoker = true) AS SELECT * FROM {schema}.{table};
             GRANT SELECT ON rm.{table} TO belle_projections, belle_query;"
        ));
    }
    sql.push_str(&format!(
        "DROP VIEW IF EXISTS rm.{name}_checkpoint;
         CREATE VIEW rm.{name}_checkpoint WITH (security_invoker = true) AS SELECT seq FROM {schema}.checkpoint;
         GRANT SELECT ON rm.{name}_checkpoint TO belle_projections, belle_query;",
        name = p.name()
    ));
    tx.batch_execute(&sql).await?;
    Ok(())
}
