//! The relay (DESIGN §3): moves committed events into the gap-free feed, then
//! publishes the feed to JetStream.
//!
//! - One active relay: leadership is a session advisory lock on a dedicated
//!   connection; stand-bys retry. Feed writes also lock `es.relay_state` row by row,
//!   so even two relays that both believe they lead cannot write a feed entry twice.
//! - Commit-safe order: only events below the visibility barrier
//!   (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`) are taken, after the
//!   checkpoint `(tx_id, global_position)`, in that order (G5).
//! - Publishing is pipelined, one message per page (a run of consecutive entries of one
//!   subject, `subjects::feed_pages`), with `Nats-Msg-Id` naming exactly its entries
//!   (JetStream de-duplication) and `Belle-Seq`/`Belle-Last-Seq` headers; the published
//!   watermark moves only after every ack, so a crash republishes from the watermark.
//! - Tamper evidence: each feed entry carries its link of the hash chain
//!   (`store::chain`), computed by the relay from the rows it moves and written with
//!   the entry, so no entry is ever unlinked.

use anyhow::Context;
use async_nats::jetstream;
use deadpool_postgres::{GenericClient, Pool};
use events_schema::envelope::FeedEvent;
use events_schema::store;
use events_schema::store::chain;
use events_schema::subjects;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// Advisory-lock key of the relay leadership ("BELLE_RL").
const LEADER_LOCK: i64 = 0x4245_4c4c_455f_524c;
/// Events moved into the feed per transaction.
const MOVE_BATCH: i64 = 5000;
/// Feed entries published per round.
const PUBLISH_BATCH: i64 = 1000;
/// After a move of fewer events than this, the relay waits [`PACE`] before the next:
/// each round (one statement, one publish flight, one ack wait) costs about the same
/// whatever it carries, so under load fewer, larger rounds leave more CPU to commands.
/// A lone command still moves at once (the wait comes after its round).
const PACED_BELOW: usize = 256;
const PACE: Duration = Duration::from_millis(4);
/// How long the stored published watermark may lag the published one while busy.
const WATERMARK_EVERY: Duration = Duration::from_millis(100);
/// Poll interval when nothing woke the relay up (commits of other instances).
const IDLE_POLL: Duration = Duration::from_millis(25);
/// Retry interval while committed events wait behind the visibility barrier.
const BARRIER_RETRY: Duration = Duration::from_millis(2);

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
        let mut published = Watermark::default();
        let mut publish_backoff = Duration::ZERO;
        while !*shutdown.borrow() {
            if lock.is_closed() {
                anyhow::bail!("relay lock connection lost");
            }
            let step = move_step(&self.pool).await?;
            let moved = step.entries.len();
            let sent = if publish_backoff.is_zero() {
                match self.publish(step.entries, step.head, &mut published).await {
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
            let idle = moved == 0 && sent == 0;
            if moved > 0 && moved < PACED_BELOW {
                // A trickle under steady load: let a few milliseconds of commits gather
                // so that each move and publish round carries more than a handful.
                tokio::select! {
                    _ = tokio::time::sleep(PACE) => {}
                    _ = shutdown.changed() => {}
                }
            }
            if published.unsaved() && (idle || published.saved_at.elapsed() >= WATERMARK_EVERY) {
                published.save(&self.pool).await?;
            }
            if idle {
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

    /// Publishes feed entries past the watermark, pipelined; returns how many. The
    /// entries just moved are published as they are when they follow the watermark;
    /// otherwise (after a failed publish, or on taking over) the next entries are read
    /// from the feed.
    async fn publish(
        &self,
        moved: Vec<FeedEvent>,
        head: i64,
        published: &mut Watermark,
    ) -> anyhow::Result<usize> {
        let watermark = match published.seq {
            Some(seq) => seq,
            None => published.load(&self.pool).await?,
        };
        let entries = if moved.first().is_some_and(|e| e.seq == watermark + 1) {
            moved
        } else if watermark < head {
            let client = self.pool.get().await?;
            store::read_feed(&client, watermark, PUBLISH_BATCH).await?
        } else {
            Vec::new()
        };
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let pages = subjects::feed_pages(&entries);
        let mut acks = Vec::with_capacity(pages.len());
        for page in pages {
            acks.push(self.send(page).await?);
        }
        for ack in acks {
            ack.await.context("JetStream publish ack")?;
        }
        published.seq = Some(last);
        Ok(entries.len())
    }

    /// Publishes one page (a run of entries of one subject, [`subjects::feed_pages`]).
    async fn send(
        &self,
        page: &[FeedEvent],
    ) -> anyhow::Result<jetstream::context::PublishAckFuture> {
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            anyhow::bail!("an empty page cannot be published");
        };
        let subject = subjects::event_subject(
            &self.prefix,
            first.event.tenant_id,
            &first.event.stream_type,
        );
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            subjects::page_msg_id(page).as_str(),
        );
        headers.insert(subjects::SEQ_HEADER, first.seq.to_string().as_str());
        headers.insert(subjects::LAST_SEQ_HEADER, last.seq.to_string().as_str());
        // Sized up front by the estimate pages are cut by, rather than grown from empty.
        let mut body = Vec::with_capacity(page.iter().map(subjects::entry_bytes).sum());
        serde_json::to_writer(&mut body, page)?;
        Ok(self
            .js
            .publish_with_headers(subject, headers, body.into())
            .await?)
    }
}

/// The published watermark: what the leader has published (in memory) and what it last
/// stored in `es.relay_state.published_seq`. Storing it lags by at most
/// [`WATERMARK_EVERY`] while busy: after a crash the new leader republishes from the
/// stored value, JetStream drops what it already has (`Nats-Msg-Id`) and consumers skip
/// what they applied (G6).
struct Watermark {
    seq: Option<i64>,
    saved: Option<i64>,
    saved_at: Instant,
}

impl Default for Watermark {
    fn default() -> Self {
        Watermark {
            seq: None,
            saved: None,
            saved_at: Instant::now(),
        }
    }
}

impl Watermark {
    fn unsaved(&self) -> bool {
        self.seq.is_some() && self.seq != self.saved
    }

    async fn load(&mut self, pool: &Pool) -> anyhow::Result<i64> {
        let client = pool.get().await?;
        let seq: i64 = client
            .query_one(
                &client
                    .prepare_cached("SELECT published_seq FROM es.relay_state WHERE id = 1")
                    .await?,
                &[],
            )
            .await?
            .get(0);
        self.seq = Some(seq);
        self.saved = Some(seq);
        Ok(seq)
    }

    async fn save(&mut self, pool: &Pool) -> anyhow::Result<()> {
        let Some(seq) = self.seq else {
            return Ok(());
        };
        let client = pool.get().await?;
        client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE es.relay_state SET published_seq = $1 WHERE id = 1 AND published_seq < $1",
                    )
                    .await?,
                &[&seq],
            )
            .await?;
        self.saved = Some(seq);
        self.saved_at = Instant::now();
        Ok(())
    }
}

/// What one move step did.
#[derive(Debug, Default)]
pub struct MoveStep {
    /// The events moved into the feed, in feed order.
    pub entries: Vec<FeedEvent>,
    /// The feed's last seq after the step.
    pub head: i64,
    /// Committed events wait behind the visibility barrier (an older transaction is
    /// still open).
    pub waiting: bool,
}

/// A move's first statement, in the move's transaction: lock the checkpoint (only when
/// there is something to move, so an idle relay writes nothing), read the chain's link
/// at it, and take the next events below the visibility barrier in
/// `(tx_id, global_position)` order. A second relay that wrongly believes it leads
/// waits on that lock, then starts after the moved checkpoint (its event scan uses the
/// locked, newest row), so no entry is written twice.
///
/// `head` is the checkpoint's seq (locked, or as last committed when nothing moves);
/// `link` the link of the entry at it (in the entry, or in `es.chain` for one moved
/// before migration 0008); `waiting` compares the newest visible tx_id (a backward index
/// scan) with the barrier. The transaction id and the JSON columns' stored lengths let
/// the relay compute each event's chain digest itself ([`chain::event_digest`]) and
/// know the JSON texts it hashes are exactly as stored.
const TAKE: &str = "\
WITH s AS (
    SELECT r.last_tx_id, r.last_position, r.last_seq FROM es.relay_state r
    WHERE r.id = 1 AND EXISTS (
        SELECT 1 FROM es.events e
        WHERE (e.tx_id, e.global_position) > (r.last_tx_id, r.last_position)
          AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot()))
    FOR UPDATE
)
SELECT h.head, h.link, h.waiting, ";

const TAKE_TAIL: &str = ",
       e.tx_id::text, octet_length(e.payload::text), octet_length(e.metadata::text)
FROM (SELECT coalesce((SELECT last_seq FROM s),
                      (SELECT last_seq FROM es.relay_state WHERE id = 1)) AS head,
             (SELECT coalesce(f.link, c.link) FROM s
              JOIN es.feed f ON f.seq = s.last_seq
              LEFT JOIN es.chain c ON c.seq = f.seq) AS link,
             coalesce((SELECT x.tx_id FROM es.events x ORDER BY x.tx_id DESC LIMIT 1)
                      >= pg_snapshot_xmin(pg_current_snapshot()), false) AS waiting) h
LEFT JOIN (
    SELECT e.* FROM s CROSS JOIN LATERAL (
        SELECT e.* FROM es.events e
        WHERE (e.tx_id, e.global_position) > (s.last_tx_id, s.last_position)
          AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.tx_id, e.global_position
        LIMIT $1) e
) e ON true
ORDER BY e.tx_id, e.global_position";

/// A move's second statement: the feed entries with their links, and the checkpoint
/// after the last of them.
const WRITE: &str = "\
WITH f AS (
    INSERT INTO es.feed (seq, global_position, link)
    SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[])
)
UPDATE es.relay_state
SET last_tx_id = $4::text::xid8, last_position = $5, last_seq = $6
WHERE id = 1";

/// Digests PostgreSQL computes for rows the relay could not hash as stored.
const DIGESTS: &str = "\
SELECT e.global_position, es.event_digest(e) FROM es.events e
WHERE e.global_position = ANY($1)";

/// Moves newly committed events into the feed; returns how many.
pub async fn move_to_feed(pool: &Pool) -> anyhow::Result<usize> {
    Ok(move_step(pool).await?.entries.len())
}

/// One move, in one transaction (see [`TAKE`] and [`WRITE`]): the feed entries, each
/// with its link of the hash chain, and the new checkpoint commit together.
pub async fn move_step(pool: &Pool) -> anyhow::Result<MoveStep> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let sql = format!("{TAKE}{}{TAKE_TAIL}", store::EVENT_COLUMNS);
    let stmt = tx.prepare_cached(&sql).await?;
    let rows = tx.query(&stmt, &[&MOVE_BATCH]).await?;
    let mut step = MoveStep::default();
    let mut previous: Option<Vec<u8>> = None;
    let mut digests = Vec::with_capacity(rows.len());
    for row in &rows {
        step.head = row.get(0);
        previous = row.get(1);
        step.waiting = row.get(2);
        if row.get::<_, Option<i64>>(3).is_none() {
            continue; // nothing to move: the one row carries only the head
        }
        let (event, metadata) = store::recorded_with_metadata_text(row, 3)?;
        digests.push(digest(row, &event, metadata.get()));
        step.entries.push(FeedEvent {
            seq: step.head + i64::try_from(step.entries.len())? + 1,
            event,
        });
    }
    let (Some(last), Some(last_row)) = (step.entries.last(), rows.last()) else {
        tx.commit().await?;
        return Ok(step);
    };
    let (last_seq, last_position) = (last.seq, last.event.global_position);
    let last_tx_id: String = last_row.try_get(14)?;
    let mut previous = match previous {
        Some(link) => link,
        None if step.head == 0 => chain::GENESIS.to_vec(),
        // TAKE waited for the checkpoint's lock while another relay moved entries and
        // still found events to move (whether it does depends on how the planner
        // rechecks the locked row): it read the new checkpoint, but its snapshot
        // predates that relay's entries. A new statement sees them (the lock is held, so
        // they are committed).
        None => match chain::link_at(&tx, step.head).await? {
            Some(link) => link,
            None => anyhow::bail!(
                "the feed entry at seq {} has no link of the hash chain (see `command-service verify-chain`)",
                step.head
            ),
        },
    };
    // Rows that did not read back exactly as stored are hashed by PostgreSQL.
    let unread: Vec<i64> = step
        .entries
        .iter()
        .zip(&digests)
        .filter(|(_, d)| d.is_none())
        .map(|(e, _)| e.event.global_position)
        .collect();
    if !unread.is_empty() {
        let stmt = tx.prepare_cached(DIGESTS).await?;
        let hashed: std::collections::HashMap<i64, Vec<u8>> = tx
            .query(&stmt, &[&unread])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (entry, digest) in step.entries.iter().zip(digests.iter_mut()) {
            if digest.is_none() {
                *digest = hashed.get(&entry.event.global_position).cloned();
            }
        }
    }
    let mut seqs = Vec::with_capacity(step.entries.len());
    let mut positions = Vec::with_capacity(step.entries.len());
    let mut links = Vec::with_capacity(step.entries.len());
    for (entry, digest) in step.entries.iter().zip(&digests) {
        let Some(digest) = digest else {
            anyhow::bail!(
                "the event at position {} could not be hashed",
                entry.event.global_position
            );
        };
        previous = chain::link(&previous, digest);
        seqs.push(entry.seq);
        positions.push(entry.event.global_position);
        links.push(previous.clone());
    }
    let stmt = tx.prepare_cached(WRITE).await?;
    tx.execute(
        &stmt,
        &[
            &seqs,
            &positions,
            &links,
            &last_tx_id,
            &last_position,
            &last_seq,
        ],
    )
    .await?;
    tx.commit().await?;
    step.head = last_seq;
    Ok(step)
}

/// The chain digest of a moved row (columns as [`TAKE_TAIL`] adds them), or `None` when
/// its payload or metadata did not read back exactly as stored.
fn digest(
    row: &tokio_postgres::Row,
    event: &events_schema::envelope::RecordedEvent,
    metadata: &str,
) -> Option<Vec<u8>> {
    let tx_id: &str = row.try_get(14).ok()?;
    let payload_len: i32 = row.try_get(15).ok()?;
    let metadata_len: i32 = row.try_get(16).ok()?;
    let exact = usize::try_from(payload_len).ok()? == event.payload.get().len()
        && usize::try_from(metadata_len).ok()? == metadata.len();
    exact.then(|| chain::event_digest(event, tx_id, metadata))
}
