//! Read-your-writes: a command's consistency token is the global position of its last
//! event. A read waits (bounded) until the relay has placed that event in the feed and
//! the read model's checkpoint has reached its feed position.
//!
//! **One watcher for all waiting reads.** A read that finds its token already covered
//! (one query for the feed position, one for the checkpoint) goes straight on. One that
//! has to wait does not poll the database itself: at 500 commands a second a few
//! hundred reads wait at once, and each polling on its own filled the pool and queued
//! the very queries that would have found them done. Instead a single task per
//! instance, running only while someone waits, reads every couple of milliseconds the
//! feed entries added since its last look (position → feed position, kept for recent
//! entries) and the checkpoints of the read models waited for, and wakes the waiting
//! reads through watch channels.
//!
//! **No missed entry.** A waiting read registers, waits for one complete round of the
//! watcher that began after it registered, and only then asks the database once more
//! for its feed position. An entry placed before that question is found by it; one
//! placed after has a feed position above everything the watcher had read when the
//! round began (the relay places entries in feed order), so the watcher reads it.

use deadpool_postgres::Pool;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Longest a read waits for its token.
pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// Pause between two rounds of the watcher while reads wait.
const ROUND: Duration = Duration::from_millis(2);
/// Recent feed entries kept for waiting reads to find their feed position in.
const KEPT_ENTRIES: usize = 200_000;
/// Feed entries read per query by the watcher.
const FEED_BATCH: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("consistency_token must be a positive integer")]
    BadToken,
    #[error("the read model has not caught up with this token yet")]
    NotYet,
    #[error("database: {0}")]
    Db(#[from] events_schema::store::StoreError),
    #[error("database: {0}")]
    Pg(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

/// The waiting reads of one instance and the watcher that serves them.
pub struct Waits {
    pool: Pool,
    state: Mutex<Watched>,
    /// Wakes the watcher when the first read starts waiting.
    /// Shared with the watcher, which waits on it without keeping the service alive.
    wake: Arc<Notify>,
    /// Rounds completed by the watcher.
    rounds: watch::Sender<u64>,
}

#[derive(Default)]
struct Watched {
    /// Reads waiting now.
    waiting: usize,
    /// The last feed position the watcher has read (None: not started yet).
    feed_seen: Option<i64>,
    /// Recent feed entries: global position → feed position, oldest first for pruning.
    positions: HashMap<i64, i64>,
    order: VecDeque<i64>,
    /// Checkpoint views waited for: how many reads wait on each, and its last value.
    views: HashMap<&'static str, (usize, watch::Sender<i64>)>,
}

/// A read's place among the waiting ones, given up when dropped.
struct Registered<'a> {
    waits: &'a Waits,
    view: Option<&'static str>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut s = self.waits.lock();
        s.waiting = s.waiting.saturating_sub(1);
        if let Some(view) = self.view {
            if let Some((n, _)) = s.views.get_mut(view) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

impl Waits {
    /// Starts the watcher (idle until a read waits).
    pub fn start(pool: Pool) -> Arc<Waits> {
        let waits = Arc::new(Waits {
            pool,
            state: Mutex::new(Watched::default()),
            wake: Arc::new(Notify::new()),
            rounds: watch::Sender::new(0),
        });
        tokio::spawn(watch_loop(Arc::downgrade(&waits)));
        waits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        &self,
        view: Option<&'static str>,
    ) -> (Registered<'_>, Option<watch::Receiver<i64>>) {
        let rx = {
            let mut s = self.lock();
            s.waiting += 1;
            view.map(|v| {
                let entry = s
                    .views
                    .entry(v)
                    .or_insert_with(|| (0, watch::Sender::new(0)));
                entry.0 += 1;
                entry.1.subscribe()
            })
        };
        self.wake.notify_one();
        (Registered { waits: self, view }, rx)
    }

    /// Waits until the watcher has completed a round that began after this call.
    async fn next_round(&self, deadline: Instant) -> Result<(), WaitError> {
        let mut rounds = self.rounds.subscribe();
        let now = *rounds.borrow_and_update();
        // The round under way may have begun before the caller registered: wait for
        // the one after it.
        while *rounds.borrow_and_update() < now + 2 {
            match tokio::time::timeout_at(deadline, rounds.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(WaitError::NotYet),
            }
        }
        Ok(())
    }
}

/// Waits until `checkpoint_view` (e.g. `rm.customers_checkpoint`) covers the token.
/// `checkpoint_view = None` waits only for the event to be in the feed.
pub async fn wait_for(
    waits: &Waits,
    token: Option<&str>,
    checkpoint_view: Option<&'static str>,
) -> Result<(), WaitError> {
    let Some(token) = token else { return Ok(()) };
    let position: i64 = token
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or(WaitError::BadToken)?;
    let deadline = Instant::now() + MAX_WAIT;
    let checkpoint_sql = checkpoint_view.map(|v| format!("SELECT seq FROM {v}"));
    // The usual case: already covered.
    let seq = {
        let client = waits.pool.get().await?;
        let seq = events_schema::store::feed_seq_of(&client, position).await?;
        if let (Some(seq), Some(sql)) = (seq, &checkpoint_sql) {
            let stmt = client.prepare_cached(sql).await?;
            let cp: i64 = client.query_one(&stmt, &[]).await?.get(0);
            if cp >= seq {
                return Ok(());
            }
        }
        seq
    };
    if seq.is_some() && checkpoint_sql.is_none() {
        return Ok(());
    }
    let (_registered, checkpoint) = waits.register(checkpoint_view);
    waits.next_round(deadline).await?;
    let seq = match seq {
        Some(seq) => seq,
        None => feed_position(waits, position, deadline).await?,
    };
    let Some(mut checkpoint) = checkpoint else {
        return Ok(());
    };
    loop {
        if *checkpoint.borrow_and_update() >= seq {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, checkpoint.changed()).await {
            Ok(Ok(())) => {}
            _ => return Err(WaitError::NotYet),
        }
    }
}

/// The feed position of a global position, once the relay has placed it (the caller
/// is registered and a watcher round has passed since).
async fn feed_position(waits: &Waits, position: i64, deadline: Instant) -> Result<i64, WaitError> {
    let mut rounds = waits.rounds.subscribe();
    if let Some(seq) = waits.lock().positions.get(&position).copied() {
        return Ok(seq);
    }
    {
        let client = waits.pool.get().await?;
        if let Some(seq) = events_schema::store::feed_seq_of(&client, position).await? {
            return Ok(seq);
        }
    }
    loop {
        match tokio::time::timeout_at(deadline, rounds.changed()).await {
            Ok(Ok(())) => {}
            _ => return Err(WaitError::NotYet),
        }
        if let Some(seq) = waits.lock().positions.get(&position).copied() {
            return Ok(seq);
        }
    }
}

/// The watcher: while reads wait, a round every [`ROUND`]; otherwise asleep.
async fn watch_loop(waits: std::sync::Weak<Waits>) {
    loop {
        let Some(w) = waits.upgrade() else { return };
        let idle = {
            let mut s = w.lock();
            if s.waiting == 0 {
                // Start afresh from the head when reads wait again (see the module
                // comment: a round that begins after a read registered suffices).
                s.feed_seen = None;
            }
            s.waiting == 0
        };
        if idle {
            // A read that registers after this check stores a permit: no lost wake-up.
            // The service is not held while waiting (its pool closes as soon as the
            // service stops); re-check now and then so the task ends once it is gone.
            let wake = Arc::clone(&w.wake);
            drop(w);
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            continue;
        }
        if let Err(e) = round(&w).await {
            tracing::warn!(error = %e, "consistency watcher: a round failed");
            drop(w);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        w.rounds.send_modify(|r| *r += 1);
        drop(w);
        tokio::time::sleep(ROUND).await;
    }
}

/// One round: new feed entries, then the checkpoints waited for.
async fn round(w: &Waits) -> Result<(), WaitError> {
    let client = w.pool.get().await?;
    let (seen, views) = {
        let s = w.lock();
        let views: Vec<&'static str> = s
            .views
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(v, _)| *v)
            .collect();
        (s.feed_seen, views)
    };
    let seen = match seen {
        Some(seen) => seen,
        None => {
            let head = events_schema::store::feed_head(&client).await?;
            w.lock().feed_seen = Some(head);
            head
        }
    };
    let stmt = client
        .prepare_cached(
            "SELECT seq, global_position FROM es.feed WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .await?;
    let rows = client.query(&stmt, &[&seen, &FEED_BATCH]).await?;
    let mut checkpoints = Vec::with_capacity(views.len());
    for view in views {
        let stmt = client
            .prepare_cached(&format!("SELECT seq FROM {view}"))
            .await?;
        checkpoints.push((view, client.query_one(&stmt, &[]).await?.get::<_, i64>(0)));
    }
    let mut s = w.lock();
    for r in rows {
        let (seq, position): (i64, i64) = (r.get(0), r.get(1));
        s.positions.insert(position, seq);
        s.order.push_back(position);
        s.feed_seen = Some(seq);
    }
    while s.order.len() > KEPT_ENTRIES {
        if let Some(old) = s.order.pop_front() {
            s.positions.remove(&old);
        }
    }
    for (view, cp) in checkpoints {
        if let Some((_, tx)) = s.views.get(view) {
            tx.send_if_modified(|v| {
                let moved = *v != cp;
                *v = cp;
                moved
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Waits;
    use std::sync::Arc;
    use std::time::Duration;

    /// An idle watcher does not hold the service's `Waits` (and with it the pool and
    /// its database connections): once the service lets go, nothing keeps them. The
    /// pool connects lazily and an idle watcher never asks it for a connection, so no
    /// server is needed here.
    #[tokio::test]
    async fn an_idle_watcher_does_not_keep_the_service_alive() {
        let pool = events_schema::db::app_pool("postgres://127.0.0.1:9/none", "nobody", None, 1)
            .expect("a lazily connecting pool");
        let waits = Waits::start(pool);
        // Let the watcher run into its idle wait (on this single-threaded runtime it
        // runs only while the test waits), then make sure it is parked there.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..500 {
            if Arc::strong_count(&waits) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let weak = Arc::downgrade(&waits);
        drop(waits);
        assert!(
            weak.upgrade().is_none(),
            "the watcher still holds the service's state while idle"
        );
    }
}
