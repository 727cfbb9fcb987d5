//! The relay (DESIGN §3): moves committed events into the gap-free feed, then
//! publishes the feed to JetStream.
//!
//! - One active relay: leadership is a session advisory lock on a dedicated
//!   connection; stand-bys retry. Feed writes also lock `es.relay_state` row by row,
//!   so even two relays that both believe they lead cannot write a feed entry twice.
//! - Commit-safe order: only events below the visibility barrier
//!   (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`) are taken, after the
//!   checkpoint `(tx_id, global_position)`, in that order (G5).
//! - Publishing is pipelined with `Nats-Msg-Id = event_id` (JetStream de-duplication)
//!   and a `Belle-Seq` header; the published watermark moves only after every ack, so a
//!   crash republishes from the watermark.

use anyhow::Context;
use async_nats::jetstream;
use deadpool_postgres::{GenericClient, Pool};
use events_schema::envelope::FeedEvent;
use events_schema::store;
use events_schema::subjects;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Advisory-lock key of the relay leadership ("BELLE_RL").
const LEADER_LOCK: i64 = 0x4245_4c4c_455f_524c;
/// Events moved into the feed per transaction.
const MOVE_BATCH: i64 = 5000;
/// Feed entries published per round.
const PUBLISH_BATCH: i64 = 1000;
/// Poll interval when nothing woke the relay up (commits of other instances).
const IDLE_POLL: Duration = Duration::from_millis(25);
/// Retry interval while committed events wait behind the visibility barrier.
const BARRIER_RETRY: Duration = Duration::from_millis(2);

/// What one move step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoveStep {
    /// Events moved into the feed.
    pub moved: usize,
    /// Committed events exist past the checkpoint but wait behind the barrier.
    pub waiting: bool,
}

#[derive(Clone)]
pub struct Relay {
    pub pool: Pool,
    pub admin_url: String,
    pub user: String,
    pub password: Option<String>,
    pub js: jetstream::Context,
    pub prefix: String,
    pub wakeup: Arc<Notify>,
}

/// Creates or updates the JetStream stream that carries the events.
pub async fn ensure_stream(
    js: &jetstream::Context,
    prefix: &str,
    replicas: usize,
) -> anyhow::Result<()> {
    let config = jetstream::stream::Config {
        name: subjects::events_stream(prefix),
        subjects: vec![subjects::events_filter(prefix)],
        storage: jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        max_age: Duration::from_secs(7 * 24 * 3600),
        num_replicas: replicas.max(1),
        ..Default::default()
    };
    js.get_or_create_stream(config.clone())
        .await
        .context("creating the JetStream events stream")?;
    js.update_stream(config)
        .await
        .context("updating the JetStream events stream")?;
    Ok(())
}

impl Relay {
    /// Runs until `shutdown` flips: stands by for leadership, then relays.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.lead(&mut shutdown).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "relay interrupted; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    async fn lead(&self, shutdown: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
        let lock =
            events_schema::db::dedicated(&self.admin_url, &self.user, self.password.as_deref())
                .await
                .context("relay lock connection")?;
        loop {
            let got: bool = lock
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                .await?
                .get(0);
            if got {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        tracing::info!("relay is active");
        let mut publish_backoff = Duration::ZERO;
        while !*shutdown.borrow() {
            if lock.is_closed() {
                anyhow::bail!("relay lock connection lost");
            }
            let step = move_batch(&self.pool).await?;
            let moved = step.moved;
            let published = if publish_backoff.is_zero() {
                match self.publish().await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "publishing to JetStream failed; will retry");
                        publish_backoff = Duration::from_millis(200);
                        0
                    }
                }
            } else {
                0
            };
            if moved == 0 && published == 0 {
                let wait = if !publish_backoff.is_zero() {
                    publish_backoff
                } else if step.waiting {
                    // Committed events wait behind an older open transaction: look
                    // again soon rather than at the idle pace.
                    BARRIER_RETRY
                } else {
                    IDLE_POLL
                };
                tokio::select! {
                    _ = self.wakeup.notified() => {}
                    _ = tokio::time::sleep(wait) => {
                        publish_backoff = Duration::ZERO;
                    }
                    _ = shutdown.changed() => {}
                }
            }
        }
        Ok(())
    }

    /// Publishes feed entries past the watermark, pipelined; returns how many.
    async fn publish(&self) -> anyhow::Result<usize> {
        let client = self.pool.get().await?;
        let published: i64 = client
            .query_one(
                &client
                    .prepare_cached("SELECT published_seq FROM es.relay_state WHERE id = 1")
                    .await?,
                &[],
            )
            .await?
            .get(0);
        let entries = store::read_feed(&client, published, PUBLISH_BATCH).await?;
        drop(client);
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let mut acks = Vec::with_capacity(entries.len());
        for entry in &entries {
            acks.push(self.send(entry).await?);
        }
        for ack in acks {
            ack.await.context("JetStream publish ack")?;
        }
        let client = self.pool.get().await?;
        client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE es.relay_state SET published_seq = $1 WHERE id = 1 AND published_seq < $1",
                    )
                    .await?,
                &[&last],
            )
            .await?;
        Ok(entries.len())
    }

    async fn send(
        &self,
        entry: &FeedEvent,
    ) -> anyhow::Result<jetstream::context::PublishAckFuture> {
        let subject = subjects::event_subject(
            &self.prefix,
            entry.event.tenant_id,
            &entry.event.stream_type,
        );
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", entry.event.event_id.to_string().as_str());
        headers.insert(subjects::SEQ_HEADER, entry.seq.to_string().as_str());
        let body = serde_json::to_vec(entry)?;
        Ok(self
            .js
            .publish_with_headers(subject, headers, body.into())
            .await?)
    }
}

/// Moves newly committed events into the feed in one transaction; returns how many.
pub async fn move_to_feed(pool: &Pool) -> anyhow::Result<usize> {
    Ok(move_batch(pool).await?.moved)
}

/// One move step: a lock-free look first, so an idle relay writes nothing, then the
/// move in one transaction.
pub async fn move_batch(pool: &Pool) -> anyhow::Result<MoveStep> {
    let mut client = pool.get().await?;
    let look = client
        .query_one(
            &client
                .prepare_cached(
                    "SELECT coalesce(bool_or(e.tx_id < pg_snapshot_xmin(pg_current_snapshot())), false),
                            count(*) > 0
                     FROM (SELECT e.tx_id FROM es.events e, es.relay_state s
                           WHERE s.id = 1 AND (e.tx_id, e.global_position) > (s.last_tx_id, s.last_position)
                           ORDER BY e.tx_id, e.global_position LIMIT 1) e",
                )
                .await?,
            &[],
        )
        .await?;
    let (ready, any): (bool, bool) = (look.get(0), look.get(1));
    if !ready {
        return Ok(MoveStep {
            moved: 0,
            waiting: any,
        });
    }
    let tx = client.transaction().await?;
    // Lock the checkpoint first: a second relay that wrongly believes it leads waits
    // here and then sees the moved checkpoint, so no entry is written twice.
    let state = tx
        .query_one(
            &tx.prepare_cached(
                "SELECT last_tx_id::text, last_position, last_seq FROM es.relay_state WHERE id = 1 FOR UPDATE",
            )
            .await?,
            &[],
        )
        .await?;
    let (last_tx, last_pos, last_seq): (String, i64, i64) =
        (state.get(0), state.get(1), state.get(2));
    let candidates = tx
        .query(
            &tx.prepare_cached(
                // Qualified names: a bare `tx_id` in ORDER BY would bind to the text
                // output column and sort 1000000 before 999999.
                "SELECT e.global_position, e.tx_id::text AS tx_text FROM es.events e
                 WHERE (e.tx_id, e.global_position) > ($1::text::xid8, $2::bigint)
                   AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY e.tx_id, e.global_position
                 LIMIT $3",
            )
            .await?,
            &[&last_tx, &last_pos, &MOVE_BATCH],
        )
        .await?;
    let Some(tail) = candidates.last() else {
        return Ok(MoveStep {
            moved: 0,
            waiting: true,
        });
    };
    let (tail_pos, tail_tx): (i64, String) = (tail.get(0), tail.get(1));
    let positions: Vec<i64> = candidates.iter().map(|r| r.get(0)).collect();
    let n = i64::try_from(positions.len())?;
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO es.feed (seq, global_position)
             SELECT $1 + u.ord, u.gp FROM UNNEST($2::bigint[]) WITH ORDINALITY AS u(gp, ord)",
        )
        .await?,
        &[&last_seq, &positions],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached(
            "UPDATE es.relay_state SET last_tx_id = $1::text::xid8, last_position = $2, last_seq = $3 WHERE id = 1",
        )
        .await?,
        &[&tail_tx, &tail_pos, &(last_seq + n)],
    )
    .await?;
    tx.commit().await?;
    Ok(MoveStep {
        moved: positions.len(),
        waiting: false,
    })
}
