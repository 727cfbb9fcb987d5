//! Applying the feed to a projection (G6): a batch is assembled (gaps filled from
//! PostgreSQL) and prepared in a read-only transaction, then written in one short
//! transaction that takes the live version under a share lock, locks the checkpoint,
//! checks neither moved, writes and moves the checkpoint. Messages at or below the
//! checkpoint are skipped, so redeliveries and duplicates have no effect.

use crate::registry;
use crate::{Prepared, Projection};
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

/// How [`position`] reads the target's version and checkpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Plain reads, for the read-only phase (takes no transaction id).
    Peek,
    /// Version under a share lock, checkpoint under an update lock, for a write.
    Lock,
}

/// Reads the target's (version, checkpoint) and leaves search_path on that version.
async fn position(
    tx: &Transaction<'_>,
    p: &dyn Projection,
    target: Target,
    access: Access,
) -> anyhow::Result<(i32, i64)> {
    let lock = |clause: &'static str| if access == Access::Lock { clause } else { "" };
    let version = match target {
        Target::Live => tx
            .query_one(
                &format!(
                    "SELECT live_version FROM projections.registry WHERE name = $1 {}",
                    lock("FOR SHARE")
                ),
                &[&p.name()],
            )
            .await?
            .get(0),
        Target::Version(v) => v,
    };
    registry::enter(tx, &registry::schema(p.name(), version)).await?;
    let cp: i64 = tx
        .query_one(
            &format!(
                "SELECT seq FROM checkpoint WHERE id = 1 {}",
                lock("FOR UPDATE")
            ),
            &[],
        )
        .await?
        .get(0);
    Ok((version, cp))
}

/// The contiguous batch past `cp` from messages received from NATS (sorted, deduped),
/// with any gap filled from the feed.
async fn assemble_received(
    tx: &Transaction<'_>,
    received: &[FeedEvent],
    cp: i64,
) -> anyhow::Result<Vec<FeedEvent>> {
    let mut batch = Vec::with_capacity(received.len());
    let mut next = cp + 1;
    for event in received.iter().filter(|e| e.seq > cp) {
        if event.seq < next {
            continue;
        }
        if event.seq > next {
            let missing = store::read_feed(tx, next - 1, event.seq - next).await?;
            if missing.len() as i64 != event.seq - next {
                bail!("feed gap {next}..{} could not be backfilled", event.seq);
            }
            batch.extend(missing);
        }
        next = event.seq + 1;
        batch.push(event.clone());
    }
    Ok(batch)
}

/// One batch of received messages in two phases. Phase one, in a read-only
/// transaction (no transaction id, so the relay's visibility barrier is not held back):
/// read the checkpoint, assemble the batch, and let the projection compute its writes.
/// Phase two, a short write transaction: lock version and checkpoint, and if neither
/// moved, write and advance the checkpoint; if something moved (another worker, a
/// switch), start over. Returns the checkpoint afterwards.
async fn step(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    received: &[FeedEvent],
) -> anyhow::Result<i64> {
    loop {
        let mut client = pool.get().await?;
        let ro = client.build_transaction().read_only(true).start().await?;
        let (version, cp) = position(&ro, p, target, Access::Peek).await?;
        let batch = assemble_received(&ro, received, cp).await?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            ro.commit().await?;
            return Ok(cp);
        };
        let prepared = p.prepare(&ro, &batch, None).await?;
        ro.commit().await?;
        drop(client);
        let ready = Ready {
            version,
            after: cp,
            last,
            events: batch.len(),
            prepared,
        };
        if write_ready(pool, p, target, &ready).await? {
            return Ok(last);
        }
    }
}

/// A batch prepared and not yet written.
struct Ready {
    /// The version it was prepared for.
    version: i32,
    /// The checkpoint it follows.
    after: i64,
    /// Its last seq.
    last: i64,
    events: usize,
    prepared: Prepared,
}

/// Phase two of a batch: in a short write transaction, lock version and checkpoint; if
/// they are still what the batch was prepared against, write it and advance the
/// checkpoint. Returns false (nothing written) if either moved.
async fn write_ready(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    ready: &Ready,
) -> anyhow::Result<bool> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (version_now, cp_now) = position(&tx, p, target, Access::Lock).await?;
    if (version_now, cp_now) != (ready.version, ready.after) {
        tx.rollback().await?;
        return Ok(false);
    }
    p.write(&tx, &ready.prepared).await?;
    tx.execute(
        "UPDATE checkpoint SET seq = $1 WHERE id = 1",
        &[&ready.last],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What [`prepare_next`] found past a checkpoint.
enum Next {
    /// A batch, prepared.
    Ready(Ready),
    /// Nothing (up to `until`): the target's checkpoint.
    AtEnd(i64),
}

/// Phase one of a catch-up batch: the feed slice after `after` (default: the target's
/// checkpoint), up to `until` and [`CATCH_UP_BATCH`] entries, prepared in a read-only
/// transaction on top of `previous` (prepared, being written meanwhile).
async fn prepare_next(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    until: Option<i64>,
    after: Option<i64>,
    previous: Option<&Ready>,
) -> anyhow::Result<Next> {
    let started = std::time::Instant::now();
    let mut client = pool.get().await?;
    let ro = client.build_transaction().read_only(true).start().await?;
    let (version, cp) = position(&ro, p, target, Access::Peek).await?;
    let after = after.unwrap_or(cp);
    let batch = read_slice(&ro, after, until).await?;
    let Some(last) = batch.last().map(|e| e.seq) else {
        ro.commit().await?;
        return Ok(Next::AtEnd(cp));
    };
    let read = started.elapsed();
    let prepared = p
        .prepare(&ro, &batch, previous.map(|r| &r.prepared))
        .await?;
    ro.commit().await?;
    tracing::debug!(
        projection = p.name(),
        events = batch.len(),
        read_us = read.as_micros(),
        prepare_us = (started.elapsed() - read).as_micros(),
        "prepared a catch-up batch"
    );
    Ok(Next::Ready(Ready {
        version,
        after,
        last,
        events: batch.len(),
        prepared,
    }))
}

/// The feed past `after`: at most [`CATCH_UP_BATCH`] entries, none past `until`.
async fn read_slice(
    client: &impl deadpool_postgres::GenericClient,
    after: i64,
    until: Option<i64>,
) -> anyhow::Result<Vec<FeedEvent>> {
    let limit = match until {
        Some(u) if u <= after => return Ok(Vec::new()),
        Some(u) => (u - after).min(CATCH_UP_BATCH),
        None => CATCH_UP_BATCH,
    };
    Ok(store::read_feed(client, after, limit).await?)
}

/// Applies messages received from NATS (any order, duplicates, gaps), backfilling
/// gaps from the feed in PostgreSQL. Returns the checkpoint.
pub async fn apply_received(
    pool: &Pool,
    p: &dyn Projection,
    mut received: Vec<FeedEvent>,
) -> anyhow::Result<i64> {
    received.sort_by_key(|e| e.seq);
    received.dedup_by_key(|e| e.seq);
    step(pool, p, Target::Live, &received).await
}

/// Applies the feed from PostgreSQL past the target's checkpoint, in large batches,
/// until `until` (inclusive) or the head. Returns the checkpoint reached.
pub async fn catch_up(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    until: Option<i64>,
) -> anyhow::Result<i64> {
    // Pipelined: while batch k is written, batch k+1 is read and prepared on top of
    // it (the projection reads k's rows from memory, not from the database). If k's
    // write finds the checkpoint or version moved, k+1 is dropped and the catch-up
    // starts again from the database.
    'restart: loop {
        let mut current = match prepare_next(pool, p, target, until, None, None).await? {
            Next::Ready(first) => first,
            Next::AtEnd(cp) => return Ok(cp),
        };
        loop {
            let started = std::time::Instant::now();
            let (written, next) = tokio::join!(
                write_ready(pool, p, target, &current),
                prepare_next(pool, p, target, until, Some(current.last), Some(&current)),
            );
            tracing::debug!(
                projection = p.name(),
                events = current.events,
                write_and_next_us = started.elapsed().as_micros(),
                "wrote a catch-up batch"
            );
            if !written? {
                continue 'restart;
            }
            match next? {
                Next::Ready(n) => current = n,
                Next::AtEnd(_) => return Ok(current.last),
            }
        }
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
