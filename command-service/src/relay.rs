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
//! - Tamper evidence: after each move the relay extends the hash chain over the feed
//!   (`store::chain`); a new leader first chains what its predecessor left.

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
        // Chain what an earlier leader moved but did not get to chain.
        let mut chain_head = Some(self.chain_in_postgres().await?);
        let mut published = Watermark::default();
        let mut publish_backoff = Duration::ZERO;
        while !*shutdown.borrow() {
            if lock.is_closed() {
                anyhow::bail!("relay lock connection lost");
            }
            let mut step = move_step(&self.pool).await?;
            let moved = step.entries.len();
            let links = chain_head
                .as_ref()
                .and_then(|head| chain_links(head, &step.entries, step.digests.take()?));
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
            chain_head = match links {
                Some(links) => {
                    chain::append(&self.pool.get().await?, &links.seqs, &links.links).await?;
                    Some(links.head)
                }
                // The head was not known, or a row could not be hashed here.
                None if moved > 0 => Some(self.chain_in_postgres().await?),
                None => chain_head,
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

    /// Has PostgreSQL extend the hash chain over the whole feed (`chain::extend`);
    /// returns the chain's head to carry on from.
    async fn chain_in_postgres(&self) -> anyhow::Result<(i64, Vec<u8>)> {
        let client = self.pool.get().await?;
        while chain::extend(&client, MOVE_BATCH).await? > 0 {}
        Ok(chain::head(&client).await?)
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

/// Links computed by the relay for the entries it just moved.
struct Links {
    seqs: Vec<i64>,
    links: Vec<Vec<u8>>,
    /// The chain's head once they are stored.
    head: (i64, Vec<u8>),
}

/// The links of `entries` (in feed order, with their digests) after the chain's
/// `head`, or `None` when nothing moved or they do not follow the head.
fn chain_links(
    head: &(i64, Vec<u8>),
    entries: &[FeedEvent],
    digests: Vec<Vec<u8>>,
) -> Option<Links> {
    if entries.is_empty() || digests.len() != entries.len() {
        return None;
    }
    let (mut seq, mut previous) = head.clone();
    let (mut seqs, mut links) = (
        Vec::with_capacity(entries.len()),
        Vec::with_capacity(entries.len()),
    );
    for (entry, digest) in entries.iter().zip(&digests) {
        if entry.seq != seq + 1 {
            return None;
        }
        previous = chain::link(&previous, digest);
        seq = entry.seq;
        seqs.push(seq);
        links.push(previous.clone());
    }
    Some(Links {
        seqs,
        links,
        head: (seq, previous),
    })
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
    /// Each moved event's chain digest, computed from the row as read; `None` when a
    /// JSON column did not read back byte for byte (white space around the value), so
    /// that the chain must be extended by PostgreSQL instead.
    pub digests: Option<Vec<Vec<u8>>>,
}

/// One move: in a single statement (committed on its own), lock the checkpoint, take
/// the next events below the visibility barrier in `(tx_id, global_position)` order,
/// write them into the feed with consecutive seqs, advance the checkpoint, and return
/// them for publishing. The checkpoint row is locked only when there is something to
/// move, so an idle relay writes nothing; a second relay that wrongly believes it leads
/// waits on that lock and then starts after the moved checkpoint (its event scan uses
/// the locked, newest row), so no entry is written twice.
const MOVE: &str = "\
WITH s AS (
    SELECT r.last_tx_id, r.last_position, r.last_seq FROM es.relay_state r
    WHERE r.id = 1 AND EXISTS (
        SELECT 1 FROM es.events e
        WHERE (e.tx_id, e.global_position) > (r.last_tx_id, r.last_position)
          AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot()))
    FOR UPDATE
), c AS (
    SELECT s.last_seq + row_number() OVER (ORDER BY e.tx_id, e.global_position) AS seq, e.*
    FROM s CROSS JOIN LATERAL (
        SELECT e.* FROM es.events e
        WHERE (e.tx_id, e.global_position) > (s.last_tx_id, s.last_position)
          AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.tx_id, e.global_position
        LIMIT $1) e
), f AS (
    INSERT INTO es.feed (seq, global_position) SELECT seq, global_position FROM c
), u AS (
    UPDATE es.relay_state r
    SET last_tx_id = t.tx_id, last_position = t.global_position, last_seq = t.seq
    FROM (SELECT * FROM c ORDER BY seq DESC LIMIT 1) t
    WHERE r.id = 1
)
SELECT h.head, h.waiting, e.seq, ";

// The moved rows come straight from `c` (no join back to es.events, which the planner
// would do by hashing the whole table); `waiting` compares the newest visible tx_id
// (a backward index scan) with the barrier. The transaction id and the JSON columns'
// stored lengths let the relay compute each event's chain digest itself
// ([`chain::event_digest`]) and know the JSON texts it hashes are exactly as stored.
const MOVE_TAIL: &str = ",
       e.tx_id::text, octet_length(e.payload::text), octet_length(e.metadata::text)
FROM (SELECT coalesce((SELECT max(seq) FROM c),
                      (SELECT last_seq FROM es.relay_state WHERE id = 1)) AS head,
             coalesce((SELECT x.tx_id FROM es.events x ORDER BY x.tx_id DESC LIMIT 1)
                      >= pg_snapshot_xmin(pg_current_snapshot()), false) AS waiting) h
LEFT JOIN c e ON true
ORDER BY e.seq";

/// Moves newly committed events into the feed; returns how many.
pub async fn move_to_feed(pool: &Pool) -> anyhow::Result<usize> {
    Ok(move_step(pool).await?.entries.len())
}

/// One move step (see [`MOVE`]).
pub async fn move_step(pool: &Pool) -> anyhow::Result<MoveStep> {
    let client = pool.get().await?;
    let sql = format!("{MOVE}{}{MOVE_TAIL}", store::EVENT_COLUMNS);
    let stmt = client.prepare_cached(&sql).await?;
    let rows = client.query(&stmt, &[&MOVE_BATCH]).await?;
    let mut step = MoveStep::default();
    let mut digests = Vec::with_capacity(rows.len());
    for row in &rows {
        step.head = row.get(0);
        step.waiting = row.get(1);
        let Some(seq) = row.get::<_, Option<i64>>(2) else {
            continue;
        };
        let (event, metadata) = store::recorded_with_metadata_text(row, 3)?;
        digests.push(digest(row, &event, metadata.get()));
        step.entries.push(FeedEvent { seq, event });
    }
    step.digests = digests.into_iter().collect();
    Ok(step)
}

/// The chain digest of a moved row (columns as [`MOVE_TAIL`] adds them), or `None` when
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
