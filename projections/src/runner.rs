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
    let schema = registry::schema(p.name(), version);
    tx.batch_execute(&format!("SET LOCAL search_path TO {schema}"))
        .await?;
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

/// Where a batch comes from.
enum Source<'a> {
    /// Messages received from NATS (any order, duplicates, gaps).
    Received(&'a [FeedEvent]),
    /// The feed in PostgreSQL past the checkpoint, up to `until` and `limit` entries.
    Feed { until: Option<i64>, limit: i64 },
}

/// The contiguous batch past `cp`: received messages with gaps filled from the feed,
/// or a slice of the feed.
async fn assemble(
    tx: &Transaction<'_>,
    source: &Source<'_>,
    cp: i64,
) -> anyhow::Result<Vec<FeedEvent>> {
    match source {
        Source::Feed { .. } => assemble_feed(tx, source, cp).await,
        Source::Received(received) => {
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
    }
}

/// One batch in two phases. Phase one, in a read-only transaction (no transaction
/// id, so the relay's visibility barrier is not held back): read the checkpoint,
/// assemble the batch, and let the projection compute its writes. Phase two, a short
/// write transaction: lock version and checkpoint, and if neither moved, write and
/// advance the checkpoint; if something moved (another worker, a switch), start over.
/// While phase two writes, the next slice of the feed is read on another connection
/// (`prefetch`). Returns the checkpoint afterwards, how many events were applied, and
/// the prefetched next slice.
async fn step(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    source: Source<'_>,
    mut prefetched: Option<Prefetched>,
) -> anyhow::Result<(i64, usize, Option<Prefetched>)> {
    loop {
        let mut client = pool.get().await?;
        let ro = client.build_transaction().read_only(true).start().await?;
        let (version, cp) = position(&ro, p, target, Access::Peek).await?;
        let batch = match prefetched.take() {
            Some(pre) if pre.after == cp => pre.events,
            _ => assemble(&ro, &source, cp).await?,
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            ro.commit().await?;
            return Ok((cp, 0, None));
        };
        let prepared = p.prepare(&ro, &batch).await?;
        ro.commit().await?;

        let write = async {
            let tx = client.transaction().await?;
            let (version_now, cp_now) = position(&tx, p, target, Access::Lock).await?;
            if (version_now, cp_now) != (version, cp) {
                tx.rollback().await?;
                return anyhow::Ok(false);
            }
            p.write(&tx, prepared).await?;
            tx.execute("UPDATE checkpoint SET seq = $1 WHERE id = 1", &[&last])
                .await?;
            tx.commit().await?;
            Ok(true)
        };
        let next = async {
            match &source {
                Source::Feed { .. } => {
                    let reader = pool.get().await?;
                    let events = assemble_feed(&reader, &source, last).await?;
                    anyhow::Ok(Some(Prefetched {
                        after: last,
                        events,
                    }))
                }
                Source::Received(_) => Ok(None),
            }
        };
        let (written, next) = tokio::join!(write, next);
        if written? {
            return Ok((last, batch.len(), next.ok().flatten()));
        }
    }
}

/// The next slice of the feed read ahead while a batch is written.
pub struct Prefetched {
    after: i64,
    events: Vec<FeedEvent>,
}

async fn assemble_feed(
    client: &impl deadpool_postgres::GenericClient,
    source: &Source<'_>,
    cp: i64,
) -> anyhow::Result<Vec<FeedEvent>> {
    let Source::Feed { until, limit } = source else {
        return Ok(Vec::new());
    };
    let limit = match until {
        Some(u) if *u <= cp => return Ok(Vec::new()),
        Some(u) => (u - cp).min(*limit),
        None => *limit,
    };
    Ok(store::read_feed(client, cp, limit).await?)
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
    Ok(
        step(pool, p, Target::Live, Source::Received(&received), None)
            .await?
            .0,
    )
}

/// Applies the feed from PostgreSQL past the target's checkpoint, in large batches,
/// until `until` (inclusive) or the head. Returns the checkpoint reached.
pub async fn catch_up(
    pool: &Pool,
    p: &dyn Projection,
    target: Target,
    until: Option<i64>,
) -> anyhow::Result<i64> {
    let mut prefetched = None;
    loop {
        let (cp, applied, next) = step(
            pool,
            p,
            target,
            Source::Feed {
                until,
                limit: CATCH_UP_BATCH,
            },
            prefetched.take(),
        )
        .await?;
        if applied == 0 {
            return Ok(cp);
        }
        prefetched = next;
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
