//! Applying the feed to a projection (G6): every batch is one transaction that takes
//! the projection's live version under a share lock, locks its checkpoint, fills any
//! gap from PostgreSQL, applies, and moves the checkpoint. Messages at or below the
//! checkpoint are skipped, so redeliveries and duplicates have no effect.

use crate::registry;
use crate::Projection;
use anyhow::{bail, Context};
use async_nats::jetstream;
use deadpool_postgres::{Pool, Transaction};
use events_schema::envelope::FeedEvent;
use events_schema::store;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Feed entries per catch-up transaction.
pub const CATCH_UP_BATCH: i64 = 5000;
/// Most NATS messages gathered into one live batch.
const LIVE_BATCH: usize = 500;
/// With no messages for this long, the worker checks the feed head in PostgreSQL
/// (covers messages lost at the tail, where no later message reveals the gap).
const IDLE_CHECK: Duration = Duration::from_millis(200);

/// Where a batch is applied.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The version the registry names live, locked for the batch.
    Live,
    /// A specific version (rebuild and verify).
    Version(i32),
}

async fn enter(tx: &Transaction<'_>, p: &dyn Projection, target: Target) -> anyhow::Result<i64> {
    let version = match target {
        Target::Live => tx
            .query_one(
                "SELECT live_version FROM projections.registry WHERE name = $1 FOR SHARE",
                &[&p.name()],
            )
            .await?
            .get(0),
        Target::Version(v) => v,
    };
    let schema = registry::schema(p.name(), version);
    tx.batch_execute(&format!("SET LOCAL search_path TO {schema}"))
        .await?;
    let cp: i64 = tx
        .query_one("SELECT seq FROM checkpoint WHERE id = 1 FOR UPDATE", &[])
        .await?
        .get(0);
    Ok(cp)
}

async fn finish(
    tx: Transaction<'_>,
    p: &dyn Projection,
    batch: &[FeedEvent],
) -> anyhow::Result<i64> {
    let Some(last) = batch.last().map(|e| e.seq) else {
        tx.commit().await?;
        return Ok(0);
    };
    p.apply(&tx, batch).await?;
    tx.execute("UPDATE checkpoint SET seq = $1 WHERE id = 1", &[&last])
        .await?;
    tx.commit().await?;
    Ok(last)
}

/// Applies messages received from NATS (any order, duplicates, gaps) in one
/// transaction, backfilling gaps from the feed in PostgreSQL. Returns the checkpoint.
pub async fn apply_received(
    pool: &Pool,
    p: &dyn Projection,
    mut received: Vec<FeedEvent>,
) -> anyhow::Result<i64> {
    received.sort_by_key(|e| e.seq);
    received.dedup_by_key(|e| e.seq);
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let cp = enter(&tx, p, Target::Live).await?;
    let mut batch = Vec::with_capacity(received.len());
    let mut next = cp + 1;
    for event in received.into_iter().filter(|e| e.seq > cp) {
        if event.seq > next {
            let missing = store::read_feed(&tx, next - 1, event.seq - next).await?;
            if missing.len() as i64 != event.seq - next {
                bail!("feed gap {next}..{} could not be backfilled", event.seq);
            }
            batch.extend(missing);
        }
        next = event.seq + 1;
        batch.push(event);
    }
    if batch.is_empty() {
        tx.commit().await?;
        return Ok(cp);
    }
    finish(tx, p, &batch).await
}

/// Applies the feed from PostgreSQL past the target's checkpoint, in large batches,
/// until `until` (inclusive) or the head. Returns the checkpoint reached.
pub async fn catch_up(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    until: Option<i64>,
) -> anyhow::Result<i64> {
    loop {
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        let cp = enter(&tx, p, target).await?;
        let limit = match until {
            Some(u) if u <= cp => {
                tx.commit().await?;
                return Ok(cp);
            }
            Some(u) => (u - cp).min(CATCH_UP_BATCH),
            None => CATCH_UP_BATCH,
        };
        let batch = store::read_feed(&tx, cp, limit).await?;
        if batch.is_empty() {
            tx.commit().await?;
            return Ok(cp);
        }
        finish(tx, p, &batch).await?;
    }
}

/// A projection worker: catch up from PostgreSQL, then follow JetStream, falling back
/// to PostgreSQL on gaps, idle periods and NATS outages. Runs until `shutdown`.
pub async fn run_worker(
    pool: Pool,
    nats_url: String,
    prefix: String,
    p: Arc<dyn Projection>,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        if let Err(e) = follow(&pool, &nats_url, &prefix, p.as_ref(), &mut shutdown).await {
            tracing::warn!(projection = p.name(), error = %format!("{e:#}"), "projection worker interrupted; retrying");
            // Keep read models moving from PostgreSQL while NATS is away.
            if let Err(e) = catch_up(&pool, p.as_ref(), Target::Live, None).await {
                tracing::warn!(projection = p.name(), error = %format!("{e:#}"), "catch-up failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

async fn follow(
    pool: &Pool,
    nats_url: &str,
    prefix: &str,
    p: &dyn Projection,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    registry::ensure_live(pool, p).await?;
    let nats = async_nats::connect(nats_url)
        .await
        .context("connecting to NATS")?;
    let js = jetstream::new(nats);
    let stream = js
        .get_stream(events_schema::subjects::events_stream(prefix))
        .await
        .context("the events stream (created by the relay) is missing")?;
    // Subscribe first (new messages only), then catch up from PostgreSQL: anything
    // published in between is either caught up or revealed as a gap by the next message.
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: events_schema::subjects::events_filter(prefix),
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .context("creating the JetStream consumer")?;
    let mut messages = consumer.messages().await?;
    let mut checkpoint = catch_up(pool, p, Target::Live, None).await?;
    tracing::info!(
        projection = p.name(),
        checkpoint,
        "projection caught up; following JetStream"
    );
    while !*shutdown.borrow() {
        let first = tokio::select! {
            m = tokio::time::timeout(IDLE_CHECK, messages.next()) => m,
            _ = shutdown.changed() => return Ok(()),
        };
        let mut received = Vec::new();
        match first {
            Err(_) => {
                let head = {
                    let client = pool.get().await?;
                    store::feed_head(&client).await?
                };
                if head > checkpoint {
                    checkpoint = catch_up(pool, p, Target::Live, None).await?;
                }
                continue;
            }
            Ok(None) => bail!("JetStream message stream ended"),
            Ok(Some(m)) => received.push(decode(m?)?),
        }
        while received.len() < LIVE_BATCH {
            match tokio::time::timeout(Duration::from_millis(1), messages.next()).await {
                Ok(Some(m)) => received.push(decode(m?)?),
                Ok(None) => bail!("JetStream message stream ended"),
                Err(_) => break,
            }
        }
        checkpoint = apply_received(pool, p, received).await?;
    }
    Ok(())
}

fn decode(m: jetstream::Message) -> anyhow::Result<FeedEvent> {
    serde_json::from_slice(&m.payload).context("decoding a feed message")
}
