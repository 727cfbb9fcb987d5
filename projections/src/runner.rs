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
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Feed entries per catch-up transaction.
pub const CATCH_UP_BATCH: i64 = 5000;
/// Most feed entries gathered (message by message) into one live batch.
const LIVE_BATCH: usize = 500;
/// Most entries a message's headers may claim for a page passed over undecoded (the
/// relay's pages hold at most `subjects::PAGE_ENTRIES`); a larger claim is decoded.
const PAGE_LIMIT: i64 = 4096;
/// With no messages for this long, the worker checks the feed head in PostgreSQL
/// (covers messages lost at the tail, where no later message reveals the gap).
const IDLE_CHECK: Duration = Duration::from_millis(200);
/// Longest a live worker leaves its checkpoint behind the events it passed over.
const PASS_FLUSH: Duration = Duration::from_millis(25);

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
/// with any gap filled from the feed. Entries passed over by subject carry no event.
async fn assemble_received(
    tx: &Transaction<'_>,
    received: &[Incoming],
    cp: i64,
) -> anyhow::Result<Vec<Incoming>> {
    let mut batch = Vec::with_capacity(received.len());
    let mut next = cp + 1;
    for incoming in received.iter().filter(|e| e.seq > cp) {
        if incoming.seq < next {
            continue;
        }
        if incoming.seq > next {
            let missing = store::read_feed(tx, next - 1, incoming.seq - next).await?;
            if missing.len() as i64 != incoming.seq - next {
                bail!("feed gap {next}..{} could not be backfilled", incoming.seq);
            }
            batch.extend(missing.into_iter().map(|e| Incoming {
                seq: e.seq,
                event: Some(e),
            }));
        }
        next = incoming.seq + 1;
        batch.push(Incoming {
            seq: incoming.seq,
            event: incoming.event.clone(),
        });
    }
    Ok(batch)
}

/// Whether the projection reads this event (one of its stream types).
fn wants(p: &dyn Projection, e: &FeedEvent) -> bool {
    p.stream_types().contains(&e.event.stream_type.as_str())
}

/// What a live worker knows of its position beyond the checkpoint in the database.
/// Most events of a busy feed belong to other read models; the worker passes over them
/// in memory and writes the checkpoint they earn at most [`PASS_FLUSH`] later, in one
/// small transaction, instead of a transaction per batch for every read model.
#[derive(Debug, Default)]
struct Follow {
    /// The version `passed` refers to; `None` until a batch has gone through the
    /// database (and again after anything that may have moved the version).
    version: Option<i32>,
    /// Every event up to here is applied to `version` or of no interest to it.
    /// Events of no interest are a pure function of the event, so the knowledge holds
    /// whichever worker applied the rest, as long as the version is the same.
    passed: i64,
    /// Since when `passed` has been ahead of the checkpoint written.
    pending_since: Option<Instant>,
}

impl Follow {
    fn pass(&mut self, version: i32, to: i64) {
        self.version = Some(version);
        self.passed = to;
        self.pending_since.get_or_insert_with(Instant::now);
    }

    fn flush_due(&self) -> bool {
        self.pending_since
            .is_some_and(|t| t.elapsed() >= PASS_FLUSH)
    }
}

/// Applies messages received from NATS (any order, duplicates, gaps), backfilling gaps
/// from the feed in PostgreSQL. A batch that continues what the worker has passed and
/// holds nothing the projection reads costs no database work at all.
async fn apply_live(
    pool: &Pool,
    p: &dyn Projection,
    state: &mut Follow,
    mut received: Vec<Incoming>,
) -> anyhow::Result<()> {
    received.sort_by_key(|e| e.seq);
    received.dedup_by_key(|e| e.seq);
    if let Some(version) = state.version {
        let fresh = received.iter().skip_while(|e| e.seq <= state.passed);
        let mut next = state.passed + 1;
        let mut contiguous_and_foreign = true;
        for e in fresh {
            if e.seq != next || e.event.as_ref().is_some_and(|e| wants(p, e)) {
                contiguous_and_foreign = false;
                break;
            }
            next += 1;
        }
        if contiguous_and_foreign {
            if next - 1 > state.passed {
                state.pass(version, next - 1);
            }
            return Ok(());
        }
    }
    step(pool, p, state, &received).await
}

/// One batch of received messages in two phases. Phase one, in a read-only
/// transaction (no transaction id, so the relay's visibility barrier is not held back):
/// read the checkpoint, assemble the batch, and let the projection compute its writes.
/// Phase two, a short write transaction: lock version and checkpoint, and if neither
/// moved, write and advance the checkpoint; if something moved (another worker, a
/// switch), start over.
async fn step(
    pool: &Pool,
    p: &dyn Projection,
    state: &mut Follow,
    received: &[Incoming],
) -> anyhow::Result<()> {
    loop {
        let mut client = pool.get().await?;
        let ro = client.build_transaction().read_only(true).start().await?;
        let (version, cp) = position(&ro, p, Target::Live, Access::Peek).await?;
        let from = match state.version {
            Some(v) if v == version => cp.max(state.passed),
            _ => cp,
        };
        let batch = assemble_received(&ro, received, from).await?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            ro.commit().await?;
            *state = Follow {
                version: Some(version),
                passed: from,
                pending_since: (from > cp)
                    .then(|| state.pending_since.unwrap_or_else(Instant::now)),
            };
            return Ok(());
        };
        let wanted: Vec<FeedEvent> = batch
            .into_iter()
            .filter_map(|e| e.event)
            .filter(|e| wants(p, e))
            .collect();
        if wanted.is_empty() {
            ro.commit().await?;
            state.pass(version, last);
            return Ok(());
        }
        let prepared = p.prepare(&ro, &wanted, None).await?;
        ro.commit().await?;
        drop(client);
        let ready = Ready {
            version,
            after: cp,
            last,
            events: wanted.len(),
            prepared,
        };
        if write_ready(pool, p, Target::Live, &ready).await? {
            *state = Follow {
                version: Some(version),
                passed: last,
                pending_since: None,
            };
            return Ok(());
        }
    }
}

/// Writes the checkpoint a live worker has earned by passing over events, if the live
/// version is still the one it passed them for.
async fn flush_passed(pool: &Pool, p: &dyn Projection, state: &mut Follow) -> anyhow::Result<()> {
    let Some(version) = state.version else {
        state.pending_since = None;
        return Ok(());
    };
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let (version_now, cp) = position(&tx, p, Target::Live, Access::Lock).await?;
    if version_now != version {
        tx.rollback().await?;
        *state = Follow::default();
        return Ok(());
    }
    if cp < state.passed {
        tx.execute(
            "UPDATE checkpoint SET seq = $1 WHERE id = 1",
            &[&state.passed],
        )
        .await?;
    }
    tx.commit().await?;
    state.pending_since = None;
    Ok(())
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
    let (batch, last) = match target {
        // Following the feed: only its stream types leave PostgreSQL, the rest of the
        // slice is passed over there (after a restart, nine read models catching up on
        // a long feed each decoded every event of the others before).
        Target::Live => {
            let head = store::feed_head(&ro).await?;
            let upto = head.min(after + CATCH_UP_BATCH);
            let upto = until.map_or(upto, |u| upto.min(u));
            if upto <= after {
                (Vec::new(), None)
            } else {
                let batch = store::read_feed_of_types(&ro, after, upto, p.stream_types()).await?;
                (batch, Some(upto))
            }
        }
        // Rebuild and verify read every event, so that `verify` catches a stream type
        // the projection reads but forgot to list.
        Target::Version(_) => {
            let batch = read_slice(&ro, after, until).await?;
            let last = batch.last().map(|e| e.seq);
            (batch, last)
        }
    };
    let Some(last) = last else {
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
    let mut state = Follow {
        passed: catch_up(pool, p, Target::Live, None).await?,
        ..Follow::default()
    };
    tracing::info!(
        projection = p.name(),
        checkpoint = state.passed,
        "projection caught up; following JetStream"
    );
    while !*shutdown.borrow() {
        let wait = match state.pending_since {
            Some(since) => PASS_FLUSH.saturating_sub(since.elapsed()),
            None => IDLE_CHECK,
        };
        let first = tokio::select! {
            m = tokio::time::timeout(wait, messages.next()) => m,
            _ = shutdown.changed() => break,
        };
        let mut received = Vec::new();
        match first {
            Err(_) if state.pending_since.is_some() => {
                flush_passed(pool, p, &mut state).await?;
                continue;
            }
            Err(_) => {
                let head = {
                    let client = pool.get().await?;
                    store::feed_head(&client).await?
                };
                if head > state.passed {
                    state = Follow {
                        passed: catch_up(pool, p, Target::Live, None).await?,
                        ..Follow::default()
                    };
                }
                continue;
            }
            Ok(None) => bail!("JetStream message stream ended"),
            Ok(Some(m)) => received.extend(decode(p, m?)?),
        }
        while received.len() < LIVE_BATCH {
            match tokio::time::timeout(Duration::from_millis(1), messages.next()).await {
                Ok(Some(m)) => received.extend(decode(p, m?)?),
                Ok(None) => bail!("JetStream message stream ended"),
                Err(_) => break,
            }
        }
        apply_live(pool, p, &mut state, received).await?;
        if state.flush_due() {
            flush_passed(pool, p, &mut state).await?;
        }
    }
    if state.pending_since.is_some() {
        flush_passed(pool, p, &mut state).await?;
    }
    Ok(())
}

/// A feed entry received from JetStream: its feed position, and the event when the
/// projection reads its stream type.
struct Incoming {
    seq: i64,
    event: Option<FeedEvent>,
}

/// The entries of one message (a page of consecutive entries of one subject, or a lone
/// entry). The subject ends in the stream type and the `Belle-Seq`/`Belle-Last-Seq`
/// headers carry the positions, so pages of other read models' stream types are passed
/// over without decoding their bodies.
fn decode(p: &dyn Projection, m: jetstream::Message) -> anyhow::Result<Vec<Incoming>> {
    decode_parts(p.stream_types(), &m.subject, m.headers.as_ref(), &m.payload)
}

fn decode_parts(
    stream_types: &[&str],
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
) -> anyhow::Result<Vec<Incoming>> {
    let stream_type = subject.rsplit('.').next().unwrap_or_default();
    let header = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.as_str().parse::<i64>().ok())
    };
    if !stream_types.contains(&stream_type) {
        let first = header(events_schema::subjects::SEQ_HEADER);
        // A lone entry from an older relay has no last-seq header.
        let last = header(events_schema::subjects::LAST_SEQ_HEADER).or(first);
        if let (Some(first), Some(last)) = (first, last) {
            if first <= last && last - first < PAGE_LIMIT {
                return Ok((first..=last)
                    .map(|seq| Incoming { seq, event: None })
                    .collect());
            }
        }
    }
    let entries =
        events_schema::subjects::decode_page(payload).context("decoding a feed message")?;
    Ok(entries
        .into_iter()
        .map(|e| Incoming {
            seq: e.seq,
            event: Some(e),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use events_schema::envelope::{Metadata, Payload, RecordedEvent};
    use events_schema::ids::{EventId, TenantId};
    use events_schema::subjects::{LAST_SEQ_HEADER, SEQ_HEADER};

    fn entry(seq: i64) -> FeedEvent {
        let tenant = TenantId::new();
        FeedEvent {
            seq,
            event: RecordedEvent {
                global_position: seq,
                event_id: EventId::new(),
                tenant_id: tenant,
                stream_id: format!("customer-{seq}"),
                stream_type: "customer".into(),
                stream_version: 1,
                event_type: "CustomerRegistered".into(),
                schema_version: 1,
                payload: Payload::from_value(&serde_json::json!({ "n": seq })),
                metadata: Metadata::system(tenant, uuid::Uuid::now_v7()),
                recorded_at: chrono::Utc::now(),
            },
        }
    }

    fn headers(first: i64, last: Option<i64>) -> async_nats::HeaderMap {
        let mut h = async_nats::HeaderMap::new();
        h.insert(SEQ_HEADER, first.to_string().as_str());
        if let Some(last) = last {
            h.insert(LAST_SEQ_HEADER, last.to_string().as_str());
        }
        h
    }

    fn seqs(incoming: &[Incoming]) -> Vec<(i64, bool)> {
        incoming
            .iter()
            .map(|i| (i.seq, i.event.is_some()))
            .collect()
    }

    #[test]
    fn a_page_of_a_wanted_stream_type_yields_each_entry() {
        let page = vec![entry(5), entry(6), entry(7)];
        let body = serde_json::to_vec(&page).unwrap_or_default();
        let got = decode_parts(
            &["customer"],
            "p.events.t.customer",
            Some(&headers(5, Some(7))),
            &body,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(seqs(&got), vec![(5, true), (6, true), (7, true)]);
        assert_eq!(
            got.into_iter().filter_map(|i| i.event).collect::<Vec<_>>(),
            page
        );
    }

    #[test]
    fn a_page_of_another_stream_type_is_passed_over_from_its_headers() {
        // The body is not even read: passing over costs no decoding.
        let got = decode_parts(
            &["customer"],
            "p.events.t.staff",
            Some(&headers(10, Some(12))),
            b"not json",
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(seqs(&got), vec![(10, false), (11, false), (12, false)]);
        // A lone entry of an older relay: Belle-Seq only.
        let got = decode_parts(
            &["customer"],
            "p.events.t.staff",
            Some(&headers(4, None)),
            b"{}",
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(seqs(&got), vec![(4, false)]);
    }

    #[test]
    fn a_lone_entry_and_implausible_headers_are_decoded_from_the_body() {
        let one = serde_json::to_vec(&entry(3)).unwrap_or_default();
        let got = decode_parts(
            &["customer"],
            "p.events.t.customer",
            Some(&headers(3, None)),
            &one,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(seqs(&got), vec![(3, true)]);
        let page = serde_json::to_vec(&vec![entry(1), entry(2)]).unwrap_or_default();
        let got = decode_parts(
            &["staff"],
            "p.events.t.customer",
            Some(&headers(1, Some(1 + PAGE_LIMIT))),
            &page,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(seqs(&got), vec![(1, true), (2, true)]);
        assert!(decode_parts(&["customer"], "p.events.t.customer", None, b"[1]").is_err());
    }
}
